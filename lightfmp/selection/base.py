"""The one interface every field selector shares, in the spirit of scikit-learn's `_get_support_mask`.

A selector only learns per-field scores (`scores_`, higher = more important); the selection rule is
shared: `get_support(prune_ratio)` keeps exactly ``m - round(tau * m)`` fields, the highest scores,
ties broken by field position (the earlier field wins), returned in schema order. Light-FMP's mask,
the shallow statistics and the deep gates all go through this one rule, so a harness treats every
method alike (paper Sec. 3.2: "the pruning ratio for all methods ... is set to 0.5").
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from lightfmp.errors import InputError
from lightfmp.knobs import text_to_value



def n_kept(num_fields: int, prune_ratio: float) -> int:
    """Fields kept at pruning ratio tau: ``m - round(tau * m)``, at least 1.

    round() takes halves UP (39 fields at tau 0.5 -> 20 pruned, 19 kept), the same rule as
    `lightfmp.pruning.lightfmp.num_pruned_fields`, so every method keeps the same number of fields.
    """
    if not 0.0 <= float(prune_ratio) < 1.0:
        raise ValueError(f"prune_ratio must be in [0, 1), got {prune_ratio}")
    return max(1, num_fields - int(math.floor(float(prune_ratio) * num_fields + 0.5)))


def top_fields(scores: np.ndarray, keep: int) -> list[int]:
    """Positions of the ``keep`` highest scores, ties broken by position, returned sorted (schema order)."""
    scores = np.asarray(scores, dtype=np.float64)
    # A stable sort on -score keeps the earlier position first among equal scores; NaN ranks last.
    order = np.argsort(np.where(np.isnan(scores), np.inf, -scores), kind="stable")
    return sorted(int(i) for i in order[:keep])


@dataclass(frozen=True)
class SelectorConfig:
    """What a selector may need besides the data: the backbone (deep methods), training knobs and tau.

    Attributes:
        model_name: backbone for the deep methods' search phase (dnn, widedeep, deepfm, xdeepfm, pnn).
        model_cfg: a `lightfmp.models.config.ModelConfig` (None: its defaults).
        train_cfg: a `lightfmp.train.config.TrainConfig`; its lr, batch size, device and seed drive the
            deep methods' search phase (None: its defaults). `FieldSelector.fit` resolves an automatic
            batch size (None) from the training split's rows, as `lightfmp.train.fit` would.
        prune_ratio: tau; single-stage methods that select per sample (AdaFS-hard) need it while training.
        search_epochs: passes over the training split in a deep method's search phase.
        max_rows: shallow methods fit on at most this many training rows (seeded sample) to bound cost.
        log_epochs: one line per search or training epoch on stderr (for logs; `lightfmp.train.fit`).
    """

    model_name: str = "dnn"
    model_cfg: Any = None
    train_cfg: Any = None
    prune_ratio: float = 0.5
    search_epochs: int = 2
    max_rows: int = 200_000
    log_epochs: bool = False


class FieldSelector(ABC):
    """Base class: subclasses implement `_fit(data, cfg)` that sets `scores_` (float[F]).

    Attributes set by `fit`:
        scores_: float64 [F] per-field importance, higher = keep.
        field_names_: the schema's field names, for reports.
    Class attributes:
        name: registry key and report.json ``method``.
        stage: "shallow" (statistics, then retrain), "two-stage" (deep search, then retrain) or
            "single-stage" (the gated model trained once is the final model).
    """

    name: str = "base"
    stage: str = "shallow"

    @dataclass(frozen=True)
    class Params:
        """A selector's hyper-parameters: each subclass declares its own, typed, with their defaults."""

    def __init__(self, **params: Any) -> None:
        known = [f.name for f in fields(self.Params)]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise InputError(f"{self.name}: unknown hyper-parameter {', '.join(unknown)}; "
                             f"it takes {', '.join(known) if known else 'none'}")
        self.params = self.Params(**params)

    @classmethod
    def from_text(cls, pairs: dict[str, str]) -> "FieldSelector":
        """A selector from command-line texts (``--option alpha=0.01``), each parsed by its declared type."""
        probe = cls.__new__(cls)
        FieldSelector.__init__(probe, **{k: None for k in pairs})  # refuses an unknown name, one line
        return cls(**{k: text_to_value(cls.Params, k, v) for k, v in pairs.items()})

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters in use (given or default), as config.json records them."""
        return {f.name: getattr(self.params, f.name) for f in fields(self.Params)}

    def fit(self, data: Any, model_name: str | None = None, cfg: SelectorConfig | None = None) -> "FieldSelector":
        """Learn the per-field scores on ``data`` (a PreparedData); returns self."""
        cfg = cfg or SelectorConfig()
        if model_name is not None:
            cfg = replace(cfg, model_name=model_name)
        cfg = replace(cfg, train_cfg=_train_cfg(cfg).resolved(len(data.split("train")[1])))
        self.field_names_ = list(data.schema.names)
        scores = np.asarray(self._fit(data, cfg), dtype=np.float64).reshape(-1)
        if scores.shape[0] != len(self.field_names_):
            raise RuntimeError(f"{self.name}: {scores.shape[0]} scores for {len(self.field_names_)} fields")
        if not np.all(np.isfinite(scores)):
            raise RuntimeError(f"{self.name}: non-finite field scores {scores}")
        self.scores_ = scores
        return self

    @abstractmethod
    def _fit(self, data: Any, cfg: SelectorConfig) -> np.ndarray:
        """Return float[F] scores; may also set method-specific fitted attributes."""

    def get_support(self, prune_ratio: float) -> list[int]:
        """Kept field positions (schema order): the ``m - round(tau*m)`` highest scores."""
        if not hasattr(self, "scores_"):
            raise RuntimeError(f"{self.name}: call fit() before get_support()")
        return top_fields(self.scores_, n_kept(len(self.scores_), prune_ratio))

    def scores_by_name(self) -> dict[str, float]:
        return {n: float(s) for n, s in zip(self.field_names_, self.scores_)}


def _train_cfg(cfg: SelectorConfig) -> Any:
    from lightfmp.train.config import TrainConfig

    return cfg.train_cfg if cfg.train_cfg is not None else TrainConfig()


def sample_rows(X: np.ndarray, y: np.ndarray, max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_rows`` rows, a seeded uniform sample without replacement (all rows when fewer)."""
    n = X.shape[0]
    if n <= max_rows:
        return np.asarray(X), np.asarray(y)
    idx = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
    return np.asarray(X[idx]), np.asarray(y[idx])
