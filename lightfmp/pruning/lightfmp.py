"""Light-FMP as a thin estimator over `lightfmp.pruning.steps`, a field selector in the scikit-learn sense
(``fit``, ``get_support``, ``transform``). Checkpoints, torchrun and the run folder are the pipeline's
(`lightfmp.experiment.run`, which calls the same phases: ``choose``, ``cut``, ``continue_training``)."""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from torch import nn

from lightfmp.metrics import sigmoid
from lightfmp.models.config import ModelConfig
from lightfmp.pruning import steps
from lightfmp.pruning.pretrain import PretrainConfig, PretrainResult, num_pruned_fields
from lightfmp.pruning.cost import structure_table
from lightfmp.pruning.steps import count_params
from lightfmp.train import EvalResult, FitResult, TrainConfig, distributed, evaluate, fit, predict_logits
from lightfmp.train.allocator import reuse_freed_memory_for
from lightfmp.train.rows import Rows

INITS = ("pretrained", "scratch")


def _load(data: Any) -> Any:
    if isinstance(data, (str, Path)):
        from lightfmp.data.dataset import PreparedData

        return PreparedData.load(data)
    return data


class LightFMP:
    """Light-FMP as an estimator: ``LightFMP(model="dnn", prune_ratio=0.5).fit(data)``; ``fit`` is
    ``resolve`` -> ``choose`` (phase 1: M_S + gate trained on D_S under Eq. 4-5 -> M_T and P(z_f > 0);
    phase 2a: the round(tau * m) lowest scores pruned, a strictly binary mask) -> ``cut`` (phase 2b: M_P
    by `prune_fields` from M_T's weights, or fresh with ``init="scratch"``, Figure 2b) ->
    ``continue_training`` (phase 3: M_P on D - D_S, early-stopped on validation -> ``model_``).
    Choice: kept fields transfer at z = 1, as the paper's binary mask says, even where phase 1 ends with
    their deterministic gates well below 1; folding those values into the tables
    (``prune_fields(scale=...)``) was measured and was no better (lower for xDeepFM).
    Evidence: docs/decisions.md#kept-fields-transfer-with-the-binary-mask; re-measure (the binary default):
    `python bench/lightfmp_accuracy.py --datasets movielens --models dnn,xdeepfm`.
    ``keep_fields`` (not in the paper, off by default): kept whatever their score; the other kept slots
    go to the best-scored fields, so round(tau * m) fields are still pruned, and phase 1 is unchanged.
    Why: one gate per field learned on 2,000 rows misses a field that matters only jointly with another.
    Evidence: docs/decisions.md#fields-kept-whatever-the-mask-says; re-measure: `lightfmp demo`.
    Timings (Section 3.1): PT (``pretrain_seconds``) is phases 1-2, every cost of choosing the fields;
    CT is phase 3's wall clock (validation included); TT = PT + CT.

    Joint structured pruning (``budget="flops=0.1"`` or ``"params=0.1"``, off by default; issue 25,
    ../shared/docs/next_methods.md section 3): phase 1 also gates every hidden unit of the MLP and CIN's
    feature maps, all under one Lagrangian on the expected kept share of No Selection's multiply-adds per
    sample (or parameters) (`lightfmp.pruning.structure`); phase 2a keeps the fields and units whose exact
    cost is within the budget (tau is not used: the number of fields is learned too), phase 2b slices
    them out (`slicing.apply_plan`); ``units_`` holds the kept units per layer, ``structure()`` the
    per-layer widths and costs before and after (report.json's ``structure``, for every run).

    Args: model (backbone name), prune_ratio (tau), budget (joint pruning's kept share, see above),
    pretrain_size (rows of D_S: the first ones of the
    data's D_S; fewer is an InputError), init ("pretrained" or "scratch"), keep_fields, model_config,
    train_config, pretrain_config (defaults: the paper's), seed (the backbone's init, the gate and
    phase 3), progress (bars on stderr), log_epochs (one line at the end of pretraining and per epoch).
    An automatic batch size (``train_config.batch_size`` None) is chosen from train minus D_S.

    Attributes after ``fit``: ``schema_`` (full), ``support_`` (kept positions), ``selected_fields_``
    (kept names), ``pruned_fields_``, ``mask_scores_`` (name -> P(z > 0)), ``model_`` (compact M_O),
    ``pretrained_model_`` (M_T without its gate; None after a pipeline resume), ``pretrain_``
    (PretrainResult), ``fit_result_`` (FitResult), ``params_before_``, ``params_after_``, ``timings_``.
    The run folder: ``lightfmp.save_run(est, dir, data)`` (`lightfmp.experiment.save`).
    """

    def __init__(self, model: str = "dnn", prune_ratio: float = 0.5, pretrain_size: int = 2000,
                 init: str = "pretrained", model_config: ModelConfig | None = None,
                 train_config: TrainConfig | None = None, pretrain_config: PretrainConfig | None = None,
                 seed: int = 0, progress: bool = False, keep_fields: Sequence[str] = (), log_epochs: bool = False,
                 budget: str | None = None):
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        num_pruned_fields(2, prune_ratio)  # validates tau
        if pretrain_size < 1:
            raise ValueError(f"pretrain_size must be >= 1, got {pretrain_size}")
        self.model = model
        self.prune_ratio = float(prune_ratio)
        self.pretrain_size = int(pretrain_size)
        self.init = init
        self.model_config = model_config or ModelConfig()
        self.train_config = train_config or TrainConfig(seed=seed)
        self.pretrain_config = replace(pretrain_config or PretrainConfig(), prune_ratio=self.prune_ratio)
        if budget is not None:
            self.pretrain_config = replace(self.pretrain_config, budget=budget)
        self.seed = int(seed)
        self.progress = progress
        self.log_epochs = bool(log_epochs)
        self.keep_fields = tuple(dict.fromkeys(str(f) for f in keep_fields))  # ordered, duplicates dropped

    @property
    def method(self) -> str:
        """report.json's method: the ablation is its own method."""
        return "lightfmp-scratch" if self.init == "scratch" else "lightfmp"

    # ---- the phases, each one step ---------------------------------------------------------------
    def pretrain(self, data: Any) -> tuple[nn.Module, PretrainResult]:
        """Phase 1 only: a fresh M_S with its trained gate attached (M_T), and what was learned."""
        data = _load(data)
        Xs, ys = steps.pretrain_subset(data, self.pretrain_size)
        reuse_freed_memory_for(self.train_config)  # before pretraining, as continued training's fit does
        return steps.pretrain_mask(self.model, data.schema.vocab_sizes, Xs, ys, self.model_config,
                                   self.pretrain_config, self.seed, self.train_config.device,
                                   log=self.log_epochs and distributed.current().is_main)

    def resolve(self, data: Any) -> "LightFMP":
        """An automatic batch size chosen from the continued-training rows (train minus D_S); a bad
        ``keep_fields`` fails here, before any training."""
        data = _load(data)
        self.train_config = self.train_config.resolved(len(steps.continued_rows(data, range(data.schema.num_fields))))
        steps.forced_positions(data.schema.names, self.keep_fields, self._field_ratio)
        return self

    @property
    def budget(self) -> str | None:
        """Joint pruning's budget (``"flops=0.1"``), or None for the paper's field-only pruning."""
        return self.pretrain_config.budget

    @property
    def _field_ratio(self) -> float:
        """tau for ``keep_fields``' slot check: joint pruning learns the number of fields (no tau)."""
        return 0.0 if self.budget is not None else self.prune_ratio

    def choose(self, data: Any) -> "LightFMP":
        """Phases 1 and 2a: pretrain M_T, then ``support_`` (kept positions) and the mask scores."""
        data = _load(data)
        forced = steps.forced_positions(data.schema.names, self.keep_fields, self._field_ratio)
        t0 = time.perf_counter()
        self.pretrained_model_, pre = self.pretrain(data)
        self.params_before_ = count_params(self.pretrained_model_)
        if self.budget is not None:
            plan = steps.choose_joint(self.pretrained_model_, self.budget, forced)
            # decided on rank 0 under torchrun (the pipeline broadcasts the fields; the units ride along here)
            pre.units = distributed.broadcast_object({p: list(u) for p, u in plan.units.items()})
            keep = list(plan.kept_fields(data.schema.num_fields))
        else:
            keep = steps.choose(self.pretrained_model_, self.prune_ratio, forced)
        self._chosen(data.schema, keep, pre)
        self.pretrain_seconds_ = time.perf_counter() - t0
        return self

    def _chosen(self, schema: Any, keep: Sequence[int], pre: PretrainResult) -> None:
        """Set what choosing decided (also how the pipeline restores a checkpoint or a broadcast)."""
        self.schema_, self.support_, self.pretrain_ = schema, [int(i) for i in keep], pre
        self.selected_fields_ = [schema.names[i] for i in self.support_]
        self.pruned_fields_ = [n for i, n in enumerate(schema.names) if i not in set(self.support_)]
        self.mask_scores_ = {n: float(s) for n, s in zip(schema.names, pre.keep_probability)}
        self.units_ = {str(p): [int(i) for i in u] for p, u in pre.units.items()}  # empty: fields only
        self.pretrain_rows_ = self.pretrain_size

    def cut(self) -> "LightFMP":
        """Phase 2b: ``model_`` = M_P for ``support_`` (M_T keeps no gate; see ``steps.cut``)."""
        t0 = time.perf_counter()
        self.model_ = steps.cut(self.pretrained_model_, self.support_, self.init, self.model, self.model_config,
                                self.seed, self.units_)
        self.pretrain_seconds_ += time.perf_counter() - t0
        return self

    def continue_training(self, data: Any, resume: dict[str, Any] | None = None,
                          on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> "LightFMP":
        """Phase 3: ``model_`` trained on D - D_S (kept columns), early-stopped on validation.
        ``resume`` and ``on_epoch_end`` pass through to `lightfmp.train.fit` (the trainer's state)."""
        data = _load(data)
        t1 = time.perf_counter()
        train_rows = steps.continued_rows(data, self.support_)
        Xv, yv = data.split("valid")
        self.fit_result_: FitResult = fit(
            self.model_, train_rows, Rows(Xv, yv, columns=tuple(self.support_)), self.train_config,
            progress=self.progress, phase="continued training", resume=resume, on_epoch_end=on_epoch_end,
            log_epochs=self.log_epochs)
        ct = time.perf_counter() - t1 + (float(resume["elapsed_seconds"]) if resume is not None else 0.0)
        self.params_after_ = count_params(self.model_)
        self.train_rows_ = int(len(train_rows))
        pt = self.pretrain_seconds_
        self.timings_ = {"pretrain_seconds": pt, "continued_seconds": ct, "total_seconds": pt + ct}
        return self

    def fit(self, data: Any) -> "LightFMP":
        """All three phases on a PreparedData (or a prepared folder path)."""
        data = _load(data)
        return self.resolve(data).choose(data).cut().continue_training(data)

    # ---- a selector, and inference ------------------------------------------------------------------
    def get_support(self, indices: bool = True) -> list[int] | np.ndarray:
        """Kept field positions (schema order), or a boolean mask over the fields (``indices=False``)."""
        if indices:
            return list(self.support_)
        mask = np.zeros(self.schema_.num_fields, dtype=bool)
        mask[self.support_] = True
        return mask

    def transform(self, X: Any) -> np.ndarray:
        """``X[:, kept]`` of ids of all m fields (ids of the kept fields only are returned as they are)."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"expected ids of shape [N, F], got {X.shape}")
        if X.shape[1] == self.schema_.num_fields:
            return np.ascontiguousarray(X[:, self.support_])
        if X.shape[1] == len(self.support_):
            return X
        raise ValueError(f"expected {self.schema_.num_fields} (all) or {len(self.support_)} (kept) "
                         f"columns, got {X.shape[1]}")

    def predict_proba(self, X: Any) -> np.ndarray:
        """P(click) float64 [N] from ids of all m fields (the kept ones are taken) or of the kept fields only."""
        logits, _ = predict_logits(self.model_, self.transform(X), self.train_config.eval_batch_size,
                                   self.train_config.device)
        return sigmoid(logits)

    def evaluate(self, X: Any, y: Any) -> EvalResult:
        """AUC, logloss and the inference seconds (IT) of the compact model on (X, y)."""
        return evaluate(self.model_, self.transform(X), y, self.train_config.eval_batch_size, self.train_config.device)

    def config(self) -> dict[str, Any]:
        """The method's own settings, JSON-able (config.json adds the shared ones)."""
        return {"pretrain_size": self.pretrain_size, "init": self.init, "keep_fields": list(self.keep_fields),
                "pretrain_config": asdict(self.pretrain_config)}

    def compact_model_config(self) -> ModelConfig:
        """M_P's ModelConfig: ``model_config`` with the kept MLP widths and CIN maps (unchanged for fields
        only). What rebuilding M_P from a checkpoint's state needs."""
        return steps.compact_model_config(self.model_config, self.units_)

    def structure(self) -> dict[str, Any]:
        """Per layer, width, parameters and multiply-adds per sample of No Selection ("before") and of
        M_P ("after"), and the totals (`lightfmp.pruning.cost.structure_table`)."""
        cfg = self.compact_model_config()
        return structure_table(self.model, self.model_config, self.schema_.vocab_sizes, self.support_,
                               cfg.hidden, cfg.cin_layers)

    def report_extra(self) -> dict[str, Any]:
        """report.json's Light-FMP keys (pretraining's outcome per field; per-layer widths and costs)."""
        pre, names = self.pretrain_, self.schema_.names
        extra = {"init": self.init, "keep_fields": list(self.keep_fields), "pretrain_steps": pre.steps,
                 "pretrain_converged": pre.converged, "expected_sparsity": pre.expected_sparsity,
                 "log_alpha": dict(zip(names, np.asarray(pre.log_alpha).tolist())),
                 "pretrain_unknown_share": dict(zip(names, pre.unknown_share)), "pretrain_history": pre.history,
                 "structure": self.structure()}
        if self.budget is not None:
            extra.update(budget=self.budget, expected_share=pre.expected_share, units=self.units_,
                         unit_keep_probability=pre.unit_keep_probability)
        return extra

    def unseen_pruned_fields(self, threshold: float = 0.8) -> list[tuple[str, float]]:
        """Pruned fields the mask could hardly judge: (name, share) where pretraining read at least
        ``threshold`` of the field's D_S rows as OOV (values unseen in the vocabulary, or hidden by the
        ``PretrainConfig.rare_min_count`` guard).

        Why: such a field is near-constant inside D_S, so it looks like noise to the mask whatever its
        worth; 0.8 lies between an ID-like Avazu field and every field of the other samples.
        Evidence: docs/decisions.md#note-on-pruned-fields-the-mask-could-not-judge; re-measure:
        `lightfmp prune --format avazu --input ../shared/data/avazu_sample/wide_resdnn --seed 0`."""
        share = self.pretrain_.unknown_share
        if not share:
            return []
        kept = set(self.support_)
        return [(name, float(share[i])) for i, name in enumerate(self.schema_.names)
                if i not in kept and share[i] >= threshold]


def mask_sweep(data: Any, model: str = "dnn", ratios: Sequence[float] = (0.0, 0.25, 0.5, 0.75),
               model_config: ModelConfig | None = None, pretrain_config: PretrainConfig | None = None,
               pretrain_size: int = 2000, seed: int = 0,
               device: str = "cpu") -> list[tuple[float, np.ndarray, list[bool]]]:
    """Phase 1 and 2 only, at each prune ratio: (tau, P(z > 0) per field, kept flags per field).

    The data behind the paper's Figure 3 (``lightfmp.plots.plot_mask_heatmap`` draws it).
    """
    data = _load(data)
    m = data.schema.num_fields
    out = []
    for tau in ratios:
        pcfg = replace(pretrain_config, budget=None) if pretrain_config is not None else None  # field masks
        est = LightFMP(model, tau, pretrain_size, model_config=model_config, pretrain_config=pcfg,
                       train_config=TrainConfig(seed=seed, device=device), seed=seed)
        full, res = est.pretrain(data)
        kept = full.gate.binary_mask(num_pruned_fields(m, tau)).bool().tolist()
        out.append((float(tau), res.keep_probability, kept))
    return out
