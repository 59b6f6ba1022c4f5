"""Light-FMP end to end: pretraining, pruning, continued training (paper Sections 2.1-2.6)."""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from lightfmp.errors import InputError
from lightfmp.metrics import sigmoid
from lightfmp.models import build_model
from lightfmp.models.config import ModelConfig
from lightfmp.pruning.pretrain import PretrainConfig, PretrainResult, num_pruned_fields, pretrain
from lightfmp.pruning.slicing import prune_fields
from lightfmp.runs import make_report, write_run
from lightfmp.train import (EvalResult, FitResult, TrainConfig, distributed, evaluate, fit, predict_logits,
                            seed_everything)
from lightfmp.train.allocator import reuse_freed_memory_for
from lightfmp.train.checkpoint import load_checkpoint, save_checkpoint
from lightfmp.train.rows import Rows

INITS = ("pretrained", "scratch")


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of a backbone, its gate excluded (the gate is not part of M_S or M_P)."""
    gate = getattr(model, "gate", None)
    skip = {id(p) for p in gate.parameters()} if isinstance(gate, nn.Module) else set()
    return sum(p.numel() for p in model.parameters() if p.requires_grad and id(p) not in skip)


def _result_dict(pre: PretrainResult) -> dict[str, Any]:
    """A PretrainResult as plain values (checkpoints load with weights_only=True)."""
    d = asdict(pre)
    d["keep_probability"] = torch.as_tensor(np.asarray(pre.keep_probability, dtype=np.float64))
    d["log_alpha"] = torch.as_tensor(np.asarray(pre.log_alpha, dtype=np.float64))
    return _plain_values(d)


def _result_from(d: dict[str, Any]) -> PretrainResult:
    d = dict(d)
    d["keep_probability"] = d["keep_probability"].numpy()
    d["log_alpha"] = d["log_alpha"].numpy()
    return PretrainResult(**d)


def _plain_values(d: dict[str, Any]) -> dict[str, Any]:
    """Numpy scalars inside ``d`` as Python numbers (tensors left alone)."""
    def conv(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        return v
    return conv(d)


def _load(data: Any) -> Any:
    if isinstance(data, (str, Path)):
        from lightfmp.data.dataset import PreparedData

        return PreparedData.load(data)
    return data


class LightFMP:
    """Light-FMP as an estimator: ``LightFMP(model="dnn", prune_ratio=0.5).fit(data)``.

    Phase 1 (Section 2.3, ``pretrain``): the backbone M_S with a hard-concrete gate (Eq. 3) in its
    gate slot is trained on D_S (``data.pretrain()``, 2,000 rows by default) under the Lagrangian
    of Eq. 4-5, giving M_T and the mask scores P(z_f > 0).
    Phase 2 (Section 2.4): exactly ``round(tau * m)`` fields are pruned, those with the lowest
    P(z_f > 0) (the same order as log_alpha), a strictly binary mask. ``prune_fields`` builds the
    compact M_P with every weight of a pruned field removed and the rest copied from M_T
    (domain-adapted init). ``init="scratch"`` instead builds M_P freshly initialised on the same
    kept fields (the paper's ablation, Figure 2b).
    Choice: kept fields transfer at z = 1, as the paper's binary mask says, although phase 1 often
    ends with their deterministic gates well below 1 (MovieLens DNN, tau 0.5, seed 0: 0.75, 0.53,
    0.19, 0.17). Folding those values into the tables instead (``prune_fields(scale=...)``, so
    that M_P starts as M_T's eval-mode function) was measured and not taken: MovieLens, batch 1,024,
    up to 10 epochs, dim 64, test AUC mean, binary vs folded: DNN tau 0.5 seeds 0-5 0.7794 vs
    0.7794 (seed 4: 0.7784 vs 0.7735), tau 0.25 0.7799 vs 0.7803; xDeepFM (CIN 32-32) tau 0.5
    seeds 0-2 0.7805 vs 0.7773, lower in every seed.
    ``keep_fields`` (not in the paper, off by default): fields a user requires are kept whatever their
    score, and the other kept slots go to the best-scored remaining fields, so exactly round(tau * m)
    fields are still pruned. Why: one gate per field learned on 2,000 rows does not see a field that
    matters only jointly with another (the synthetic XOR pair ranks 31-39 of 39, README); a user who
    knows such fields can protect them. Phase 1 is unchanged (the gate learns every field).
    Phase 3 (Section 2.5): M_P is trained on D - D_S (``data.continued()``) with early stopping on
    the validation split (``lightfmp.train.fit``), giving the compact M_O in ``model_``.

    Timings (Section 3.1): ``pretrain_seconds`` (PT) covers phase 1 and the phase-2 surgery, i.e.
    every cost of choosing the fields; ``continued_seconds`` (CT) is ``fit``'s wall clock including
    per-epoch validation, plus taking the kept columns of the training split; TT = PT + CT;
    ``inference_seconds`` (IT) is the forward passes over the test split, as ``evaluate`` times them.

    Args:
        model: backbone name (dnn, widedeep, deepfm, xdeepfm, pnn).
        prune_ratio: tau, the fraction of fields removed.
        pretrain_size: rows of D_S. The prepared data fixes D_S; if it holds more rows, the first
            ``pretrain_size`` are used and the rest are left out of both phases; fewer is an InputError.
        init: "pretrained" (domain-adapted, the method) or "scratch" (ablation).
        keep_fields: field names kept whatever the mask says (see above); () keeps the method as is.
        model_config, train_config, pretrain_config: hyper-parameters (defaults: the paper's).
        seed: seeds the backbone's init, the gate and continued training.
        progress: progress bars on stderr (continued training), when stderr is a terminal.
        log_epochs: one line on stderr at the end of pretraining and per epoch of continued training.
        An automatic batch size (``train_config.batch_size`` None) is chosen in ``fit`` from the
        continued-training rows (train minus D_S) and ``train_config`` then holds the number.

    Attributes after ``fit``: ``schema_`` (full), ``support_`` (kept positions), ``selected_fields_``
    (kept names), ``pruned_fields_``, ``mask_scores_`` (name -> P(z > 0)), ``model_`` (compact M_O),
    ``pretrain_`` (PretrainResult), ``fit_result_`` (FitResult), ``params_before_``,
    ``params_after_``, ``timings_`` (dict of seconds).
    """

    def __init__(self, model: str = "dnn", prune_ratio: float = 0.5, pretrain_size: int = 2000,
                 init: str = "pretrained", model_config: ModelConfig | None = None,
                 train_config: TrainConfig | None = None, pretrain_config: PretrainConfig | None = None,
                 seed: int = 0, progress: bool = False, keep_fields: Sequence[str] = (), log_epochs: bool = False):
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
        self.seed = int(seed)
        self.progress = progress
        self.log_epochs = bool(log_epochs)
        self.keep_fields = tuple(dict.fromkeys(str(f) for f in keep_fields))  # ordered, duplicates dropped

    # ---- phase 1 -------------------------------------------------------------------------------
    def _pretrain_subset(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        Xs, ys = data.pretrain()
        if len(Xs) < self.pretrain_size:
            raise InputError(f"--pretrain-size {self.pretrain_size}: the data's pretraining subset D_S has only "
                             f"{len(Xs)} rows; prepare the data with a larger D_S")
        return np.asarray(Xs[: self.pretrain_size]), np.asarray(ys[: self.pretrain_size])

    def pretrain(self, data: Any) -> tuple[nn.Module, PretrainResult]:
        """Phase 1 only: a fresh M_S with its trained gate attached (M_T), and what was learned."""
        data = _load(data)
        Xs, ys = self._pretrain_subset(data)
        reuse_freed_memory_for(self.train_config)  # before pretraining, as continued training's fit does
        seed_everything(self.seed)
        full = build_model(self.model, data.schema.vocab_sizes, self.model_config)
        _, result = pretrain(full, Xs, ys, self.pretrain_config, seed=self.seed, device=self.train_config.device,
                             log=self.log_epochs and distributed.current().is_main)
        return full, result

    def compact_model(self, pretrained: nn.Module, keep: Sequence[int]) -> nn.Module:
        """Phase 2: M_P for the kept field positions, from M_T's weights or (``init="scratch"``) fresh."""
        if self.init == "pretrained":
            return prune_fields(pretrained, keep)
        seed_everything(self.seed)
        return build_model(self.model, [pretrained.vocab_sizes[i] for i in keep], self.model_config)

    def _forced_positions(self, names: Sequence[str]) -> list[int]:
        """Positions of ``keep_fields``; an InputError (one line) for an unknown name or too many names."""
        names = list(names)
        unknown = [f for f in self.keep_fields if f not in names]
        if unknown:
            raise InputError(f"--keep-fields: no field named {unknown[0]!r}; the fields are {', '.join(names)}")
        slots = len(names) - num_pruned_fields(len(names), self.prune_ratio)
        if len(self.keep_fields) > slots:
            raise InputError(f"--keep-fields names {len(self.keep_fields)} fields, but tau = {self.prune_ratio:g} "
                             f"keeps only {slots} of {len(names)}")
        return [names.index(f) for f in self.keep_fields]

    # ---- all three phases -----------------------------------------------------------------------
    def identity(self, data: Any) -> dict[str, Any]:
        """What a checkpoint of this run must match to be resumed (the run's options and its data)."""
        schema = data.schema
        return {**self.config(), "dataset": schema.dataset, "fields": list(schema.names),
                "vocab_sizes": list(schema.vocab_sizes), "world_size": distributed.current().world}

    def continued_row_count(self, data: Any) -> int:
        """Rows of continued training (train minus D_S): an automatic batch size is chosen from these."""
        data = _load(data)
        return len(self._continued_rows(data, range(data.schema.num_fields)))

    def _continued_rows(self, data: Any, keep: Sequence[int]) -> Rows:
        """train minus D_S, kept columns only, as a view: nothing is copied until batches are read."""
        index = getattr(data, "pretrain_index", None)
        if index is None:
            Xc, yc = data.continued()
            return Rows(Xc, yc, columns=tuple(keep))
        X, y = data.split("train")
        return Rows(X, y, columns=tuple(keep), exclude=np.asarray(index))

    def fit(self, data: Any, checkpoint: str | Path | None = None, resume: bool = False) -> "LightFMP":
        """Run the three phases on a PreparedData (or a prepared folder path).

        ``checkpoint``: a file written (atomically, by rank 0) after phase 2 (phase "pruned": kept
        fields, mask scores, the compact model) and after every epoch of phase 3 (phase "continued":
        the trainer's whole state). ``resume=True`` reads it first and skips what it already holds, so
        a killed run ends with the same kept fields and, up to floating-point, the same model.
        Under torch.distributed every rank pretrains (seconds), rank 0's kept fields are broadcast and
        rank 0's compact model is copied to every rank before continued training is wrapped in DDP.
        """
        data = _load(data)
        schema = data.schema
        info = distributed.current()
        self.train_config = self.train_config.resolved(self.continued_row_count(data))  # before the identity
        ident = self.identity(data)
        forced = self._forced_positions(schema.names)  # a bad --keep-fields fails before any training
        ckpt = load_checkpoint(checkpoint, ident) if (resume and checkpoint is not None) else None
        if ckpt is None:
            t0 = time.perf_counter()
            full, pre = self.pretrain(data)
            k = num_pruned_fields(schema.num_fields, self.prune_ratio)
            keep = [int(i) for i in torch.nonzero(full.gate.binary_mask(k, keep=forced)).flatten().tolist()]
            keep = distributed.broadcast_object(keep)  # decided once, on rank 0
            params_before = count_parameters(full)
            full.gate = None  # M_P has no masking layer (Section 2.4)
            compact = self.compact_model(full, keep)
            distributed.broadcast_module(compact)
            pt = time.perf_counter() - t0
            pretrained: nn.Module | None = full
            if checkpoint is not None and info.is_main:
                save_checkpoint(checkpoint, ident, "pruned", keep=keep, pretrain=_result_dict(pre),
                                params_before=params_before, pretrain_seconds=pt, model=compact.state_dict())
            trainer_state = None
        else:
            keep, pre = [int(i) for i in ckpt["keep"]], _result_from(ckpt["pretrain"])
            params_before, pt = int(ckpt["params_before"]), float(ckpt["pretrain_seconds"])
            compact = build_model(self.model, [schema.vocab_sizes[i] for i in keep], self.model_config)
            compact.load_state_dict(ckpt["model"])
            pretrained = None  # not kept in checkpoints: M_T is only needed to build M_P
            trainer_state = ckpt.get("trainer")

        def save_epoch(state: dict[str, Any]) -> None:
            if checkpoint is not None and info.is_main:
                save_checkpoint(checkpoint, ident, "continued", keep=keep, pretrain=_result_dict(pre),
                                params_before=params_before, pretrain_seconds=pt, model=state["model"], trainer=state)

        t1 = time.perf_counter()
        train_rows = self._continued_rows(data, keep)
        Xv, yv = data.split("valid")
        fit_result = fit(compact, train_rows, Rows(Xv, yv, columns=tuple(keep)), self.train_config,
                         progress=self.progress, phase="continued training", resume=trainer_state,
                         on_epoch_end=save_epoch, log_epochs=self.log_epochs)
        ct = time.perf_counter() - t1
        if trainer_state is not None:  # the interrupted run's time counts too
            ct += float(trainer_state["elapsed_seconds"])

        self.schema_ = schema
        self.support_ = keep
        self.selected_fields_ = [schema.names[i] for i in keep]
        self.pruned_fields_ = [n for i, n in enumerate(schema.names) if i not in set(keep)]
        self.mask_scores_ = {n: float(s) for n, s in zip(schema.names, pre.keep_probability)}
        self.pretrained_model_ = pretrained  # M_T without its gate (None after a resume)
        self.model_ = compact
        self.pretrain_ = pre
        self.fit_result_: FitResult = fit_result
        self.params_before_ = params_before
        self.params_after_ = count_parameters(compact)
        self.train_rows_ = int(len(train_rows))
        self.pretrain_rows_ = self.pretrain_size
        self.timings_ = {"pretrain_seconds": pt, "continued_seconds": ct, "total_seconds": pt + ct}
        return self

    # ---- inference ---------------------------------------------------------------------------------
    def _kept_columns(self, X: Any) -> np.ndarray:
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
        logits, _ = predict_logits(self.model_, self._kept_columns(X), self.train_config.eval_batch_size,
                                   self.train_config.device)
        return sigmoid(logits)

    def evaluate(self, X: Any, y: Any) -> EvalResult:
        """AUC, logloss and the inference seconds (IT) of the compact model on (X, y)."""
        return evaluate(self.model_, self._kept_columns(X), y, self.train_config.eval_batch_size,
                        self.train_config.device)

    # ---- the run folder ------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The resolved configuration, JSON-able (written to config.json)."""
        from dataclasses import asdict

        return {"method": "lightfmp-scratch" if self.init == "scratch" else "lightfmp", "model": self.model,
                "prune_ratio": self.prune_ratio,
                "pretrain_size": self.pretrain_size, "init": self.init, "seed": self.seed,
                "keep_fields": list(self.keep_fields),
                "model_config": self.model_config.to_dict(), "train_config": self.train_config.to_dict(),
                "pretrain_config": asdict(self.pretrain_config)}

    def unseen_pruned_fields(self, threshold: float = 0.8) -> list[tuple[str, float]]:
        """Pruned fields the mask could hardly judge: (name, share) where pretraining read at least
        ``threshold`` of the field's D_S rows as OOV (values unseen in the vocabulary, or hidden by the
        ``PretrainConfig.rare_min_count`` guard).

        Why: such a field is near-constant inside D_S, so it looks like noise to the mask whatever its
        worth (an ID-like field: Avazu's device_ip is 94% OOV there; no field of the Criteo, MovieLens or
        synthetic samples passes 0.75). 0.8 is our choice, between those."""
        share = self.pretrain_.unknown_share
        if not share:
            return []
        kept = set(self.support_)
        return [(name, float(share[i])) for i, name in enumerate(self.schema_.names)
                if i not in kept and share[i] >= threshold]

    def report(self, data: Any) -> dict[str, Any]:
        """report.json of this run: test AUC/logloss and IT on the data's test split (product.md keys)."""
        data = _load(data)
        Xt, yt = data.split("test")
        test = self.evaluate(Xt, yt)
        fr, pre = self.fit_result_, self.pretrain_
        return make_report(
            method="lightfmp-scratch" if self.init == "scratch" else "lightfmp",  # the ablation is its own method
            model=self.model, schema=self.schema_, kept=self.support_, seed=self.seed,
            auc=test.auc, logloss=test.logloss, val_auc=fr.best_val_auc, train_rows=self.train_rows_,
            params_before=self.params_before_, params_after=self.params_after_,
            continued_seconds=self.timings_["continued_seconds"],
            train_samples_per_second=fr.samples_per_second, inference_seconds=test.seconds,
            inference_samples_per_second=test.samples_per_second,
            pretrain_seconds=self.timings_["pretrain_seconds"], pretrain_rows=self.pretrain_rows_,
            prune_ratio=self.prune_ratio, mask=self.mask_scores_,
            total_seconds=self.timings_["total_seconds"],
            extra={"init": self.init, "keep_fields": list(self.keep_fields),
                   "device": self.train_config.device, "step_mode": fr.step_mode, "batch_size": fr.batch_size,
                   "best_epoch": fr.best_epoch, "epochs_run": fr.epochs_run,
                   "pretrain_steps": pre.steps, "pretrain_converged": pre.converged,
                   "expected_sparsity": pre.expected_sparsity,
                   "log_alpha": dict(zip(self.schema_.names, pre.log_alpha.tolist())),
                   "pretrain_unknown_share": dict(zip(self.schema_.names, pre.unknown_share)),
                   "pretrain_history": pre.history, "history": fr.history},
        )

    def save(self, out_dir: str | Path, data: Any, report: dict[str, Any] | None = None) -> Path:
        """Write the run folder (report.json, compact model.pt, kept-field schema and vocab, config)."""
        data = _load(data)
        report = report if report is not None else self.report(data)
        source = getattr(data, "dir", None) or getattr(data, "path")
        return write_run(out_dir, report, self.model_, self.schema_.subset(self.support_), source, self.config())


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
        est = LightFMP(model, tau, pretrain_size, model_config=model_config, pretrain_config=pretrain_config,
                       train_config=TrainConfig(seed=seed, device=device), seed=seed)
        full, res = est.pretrain(data)
        kept = full.gate.binary_mask(num_pruned_fields(m, tau)).bool().tolist()
        out.append((float(tau), res.keep_probability, kept))
    return out
