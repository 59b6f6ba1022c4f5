"""One method end to end -> a run folder: the unit of the paper's Table 2 / Table 3 grid.

Methods: ``none`` (No Selection: the backbone on every field), ``lightfmp`` and ``lightfmp-scratch``
(Light-FMP with domain-adapted or fresh initialisation, Figure 2b), and every ``SELECTORS`` baseline.

Timing, the same for every method (paper Sec. 3.1, 4.1: "training time includes both feature
selection and retraining"), wall clock, `time.perf_counter`:
- ``pretrain_seconds`` (PT): the selection phase, i.e. the selector's whole `fit` (a shallow model, a
  deep search, Light-FMP's phase 1 + surgery); 0 for ``none`` and the single-stage methods.
- ``continued_seconds`` (CT): building the model to train, taking the kept columns, and
  `lightfmp.train.fit` (validation passes for early stopping included, as Light-FMP's CT includes
  them); for single-stage methods (AdaFS, MvFS) the one joint training.
- ``total_seconds`` = PT + CT; TT in Table 2 is this relative to ``none`` on the same data, model, seed.
Retraining data: two-stage and shallow baselines retrain on the full training split (the paper: "other
baselines train on the full set"); Light-FMP continues on D - D_S, as the method says. With
``train_rows="continued"`` No Selection trains on D - D_S instead, the rows Light-FMP's phase 3 sees: at
the paper's scale (2K of 33M rows) the two are the same, on a sample of ~6,400 training rows D_S is a
third of them, and this separates the cost of those rows from the cost of the selection.

Run folders: a gate-free compact model goes through `lightfmp.runs.write_run` (so `predict` works).
Value-level masks (OptFS, OptEm) are folded into the table rows first: z depends on the value only,
so scaling each embedding/linear row by its mask is exact. Per-sample gates (AdaFS, MvFS) cannot be
folded; their folders hold report.json, config.json, schema.json and ``gated_model.pt`` (weights with
the gate) but no ``model.pt``, so `predict` refuses them with a one-line error.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from lightfmp.selection import SELECTORS, SelectorConfig

METHODS = ("none", *[m for m in SELECTORS if m != "lightfmp"], "lightfmp", "lightfmp-scratch")


def _kept(X: Any, keep: Sequence[int]) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(X)[:, list(keep)])


def _count(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def fold_value_mask(model: nn.Module) -> nn.Module:
    """Fold a frozen per-value mask (`ValueMask`) into the table rows and drop the gate (exact)."""
    gate = model.gate
    model.gate = None
    with torch.no_grad():
        for table in model.field_tables():
            table.weight.mul_(gate.mask.to(table.weight.device).unsqueeze(1))
    return model


def run_method(method: str, data: Any, *, model_name: str = "dnn", model_cfg: Any = None, train_cfg: Any = None,
               prune_ratio: float = 0.5, pretrain_size: int = 2000, pretrain_cfg: Any = None,
               search_epochs: int = 2, options: dict[str, Any] | None = None, out: str | Path | None = None,
               progress: bool = False, train_rows: str = "train", log_epochs: bool = False) -> dict[str, Any]:
    """Run ``method`` on ``data`` (a PreparedData), return its report (and write ``out`` if given).

    ``train_rows``: the rows No Selection trains on, "train" (the whole training split) or "continued"
    (train minus D_S); the other methods take only "train" (their searches read the whole split).
    An automatic batch size (``train_cfg.batch_size`` None, the default) is chosen from those rows
    (Light-FMP: from its continued-training rows) and recorded in config.json and report.json.
    ``log_epochs``: one line per search / training epoch on stderr (`lightfmp.train.fit`).
    """
    from lightfmp.models.config import ModelConfig
    from lightfmp.runs.report import make_report
    from lightfmp.train import TrainConfig, evaluate, fit
    from lightfmp.selection.deep import build_backbone

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if train_rows not in ("train", "continued") or (train_rows == "continued" and method != "none"):
        raise ValueError(f"train_rows must be 'train' (or 'continued' for method 'none'), got {train_rows!r}")
    model_cfg = model_cfg or ModelConfig()
    train_cfg = train_cfg or TrainConfig()
    schema = data.schema
    if not method.startswith("lightfmp"):  # Light-FMP chooses from its own (continued) rows
        train_cfg = train_cfg.resolved(len((data.split("train") if train_rows == "train" else data.continued())[1]))
    config = {"method": method, "model": model_name, "model_config": model_cfg.to_dict(),
              "train_config": train_cfg.to_dict(), "prune_ratio": prune_ratio, "options": options or {}}
    if method in ("autofield", "optfs", "optem"):  # two-stage deep methods: the search length shapes the result
        config["search_epochs"] = search_epochs

    if method.startswith("lightfmp"):
        from lightfmp.pruning.lightfmp import LightFMP

        est = LightFMP(model=model_name, prune_ratio=prune_ratio, pretrain_size=pretrain_size,
                       init="scratch" if method == "lightfmp-scratch" else "pretrained", model_config=model_cfg,
                       train_config=train_cfg, pretrain_config=pretrain_cfg, seed=train_cfg.seed, progress=progress,
                       log_epochs=log_epochs)
        est.fit(data)
        report = est.report(data)
        report["method"] = method
        report.update(stage="two-stage", init=est.init)
        if out is not None:
            est.save(out, data, report)
        return report

    cfg = SelectorConfig(model_name=model_name, model_cfg=model_cfg, train_cfg=train_cfg, prune_ratio=prune_ratio,
                         search_epochs=search_epochs, options=dict(options or {}), log_epochs=log_epochs)
    Xtr, ytr = data.split("train") if train_rows == "train" else data.continued()
    Xva, yva = data.split("valid")
    Xte, yte = data.split("test")
    params_before = _count(build_backbone(model_name, schema.vocab_sizes, cfg))
    extra: dict[str, Any] = {}
    pt = 0.0
    if method == "none":
        keep, scores, stage = list(range(schema.num_fields)), None, "none"
        t1 = time.perf_counter()
        model = build_backbone(model_name, schema.vocab_sizes, cfg)
        fr = fit(model, (Xtr, ytr), (Xva, yva), train_cfg, progress=progress, log_epochs=log_epochs)
        ct = time.perf_counter() - t1
    else:
        sel = SELECTORS[method]()
        stage = sel.stage
        t0 = time.perf_counter()
        sel.fit(data, cfg=cfg)
        elapsed = time.perf_counter() - t0
        scores = sel.scores_
        if stage == "single-stage":
            keep, model, fr, ct = list(range(schema.num_fields)), sel.model_, sel.fit_result_, elapsed
            extra["ranked_fields"] = [schema.names[i] for i in sel.get_support(prune_ratio)]
        else:
            pt = elapsed
            keep = sel.get_support(prune_ratio)
            t1 = time.perf_counter()
            if hasattr(sel, "retrain_model"):
                model = sel.retrain_model(data, keep)
            else:
                model = build_backbone(model_name, [schema.vocab_sizes[i] for i in keep], cfg)
            fr = fit(model, (_kept(Xtr, keep), ytr), (_kept(Xva, keep), yva), train_cfg, progress=progress,
                     phase="retraining", log_epochs=log_epochs)
            ct = time.perf_counter() - t1
        for attr in ("kept_fraction_", "values_remaining_"):
            if hasattr(sel, attr):
                v = getattr(sel, attr)
                extra[attr.rstrip("_")] = v.tolist() if isinstance(v, np.ndarray) else v
        if hasattr(sel, "search_"):
            extra["search_steps"] = sel.search_.steps
    test = evaluate(model, _kept(Xte, keep), yte, train_cfg.eval_batch_size, train_cfg.device)
    extra.update(stage=stage, best_epoch=fr.best_epoch, epochs_run=fr.epochs_run, batch_size=train_cfg.batch_size,
                 train_split="train" if train_rows == "train" else "train minus D_S")
    report = make_report(method=method, model=model_name, schema=schema, kept=keep, seed=train_cfg.seed,
                         auc=test.auc, logloss=test.logloss, val_auc=fr.best_val_auc, train_rows=int(len(ytr)),
                         params_before=params_before, params_after=_count(model), continued_seconds=ct,
                         pretrain_seconds=pt, train_samples_per_second=fr.samples_per_second,
                         inference_seconds=test.seconds, inference_samples_per_second=test.samples_per_second,
                         prune_ratio=prune_ratio if method != "none" else 0.0,
                         mask=None if scores is None else list(map(float, scores)), extra=extra)
    if out is not None:
        _write(out, report, model, schema.subset(keep), data, config)
    return report


def _write(out: str | Path, report: dict[str, Any], model: nn.Module, schema: Any, data: Any,
           config: dict[str, Any]) -> Path:
    from lightfmp.runs.folder import json_safe, write_run
    from lightfmp.selection.deep import ValueMask

    if isinstance(model.gate, ValueMask):
        model = fold_value_mask(model)
    source = getattr(data, "dir", None)
    if model.gate is None:
        if source is None:
            import pyarrow as pa

            source = pa.table({"field": pa.array([], pa.string()), "value": pa.array([], pa.string()),
                               "id": pa.array([], pa.int32())})
        return write_run(out, report, model, schema, source, config)
    # Per-sample gate: no model.pt (predict cannot rebuild it), the gated weights kept for inspection.
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / "report.json").write_text(json.dumps(json_safe(report), indent=1, allow_nan=False))
        (tmp / "config.json").write_text(json.dumps(json_safe(config), indent=1, allow_nan=False))
        schema.save(tmp / "schema.json")
        torch.save({"build_args": model.build_args(), "gate": type(model.gate).__name__,
                    "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}},
                   tmp / "gated_model.pt")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
