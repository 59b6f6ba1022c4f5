"""report.json: every key ../shared/docs/product.md lists, built the same way by every method.

Time keys (seconds, wall clock, device-synchronised):
- pretrain_seconds: Light-FMP's phase 1 on D_S, or a baseline's selection/search phase; 0 for "none".
- continued_seconds: training on the kept fields (for "none": the whole `fit`, validation included).
- total_seconds: pretrain_seconds + continued_seconds unless the caller measured it end to end.
- inference_seconds / inference_samples_per_second: the test split's forward passes only.
- train_samples_per_second: pure training throughput of the final model (validation excluded).
One caller: `lightfmp.experiment.RunResult.report()`; parameters: `lightfmp.pruning.steps.count_params`.
"""
from __future__ import annotations

import platform
from typing import Any, Mapping, Sequence

import numpy as np
import torch

import lightfmp
from lightfmp.data.schema import Schema

REQUIRED_KEYS = ("method", "model", "dataset", "seed", "prune_ratio", "pretrain_rows", "train_rows",
                 "fields_total", "fields_kept", "fields_pruned", "mask", "auc", "logloss", "val_auc",
                 "pretrain_seconds", "continued_seconds", "total_seconds", "inference_seconds",
                 "train_samples_per_second", "inference_samples_per_second", "params_before",
                 "params_after", "versions")


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "lightfmp": lightfmp.__version__}


def _num(v: Any) -> float | None:
    """JSON-safe float: NaN/inf become None (JSON has no NaN)."""
    if v is None:
        return None
    f = float(v)
    return f if np.isfinite(f) else None


def make_report(*, method: str, model: str, schema: Schema, kept: Sequence[int | str], seed: int,
                auc: float, logloss: float, val_auc: float | None, train_rows: int,
                params_before: int, params_after: int, continued_seconds: float,
                train_samples_per_second: float, inference_seconds: float, inference_samples_per_second: float,
                pretrain_seconds: float = 0.0, pretrain_rows: int = 0, prune_ratio: float | None = None,
                mask: Mapping[str, float] | Sequence[float] | None = None, total_seconds: float | None = None,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report of one run.

    Args:
        schema: the *full* schema the method started from (fields_total, names, dataset).
        kept: kept fields (names or positions into `schema`); fields_pruned is the rest, in schema order.
        prune_ratio: tau; None derives it as the fraction of fields removed.
        mask: learned score per field (dict by name, or a sequence in schema order); None if the method
            has none (serialised as null).
        extra: method-specific keys (hyper-parameters, best_epoch, history...) merged last; they may not
            overwrite the required keys.
    """
    idx = schema.index(list(kept))
    names = schema.names
    kept_names = [names[i] for i in idx]
    pruned = [n for i, n in enumerate(names) if i not in set(idx)]
    if mask is not None and not isinstance(mask, Mapping):
        scores = list(mask)
        if len(scores) != len(names):
            raise ValueError(f"mask has {len(scores)} scores for {len(names)} fields")
        mask = dict(zip(names, scores))
    report: dict[str, Any] = {
        "method": method,
        "model": model,
        "dataset": schema.dataset,
        "seed": int(seed),
        "prune_ratio": float(prune_ratio if prune_ratio is not None else len(pruned) / max(len(names), 1)),
        "pretrain_rows": int(pretrain_rows),
        "train_rows": int(train_rows),
        "fields_total": len(names),
        "fields_kept": kept_names,
        "fields_pruned": pruned,
        "mask": None if mask is None else {str(k): _num(v) for k, v in mask.items()},
        "auc": _num(auc),
        "logloss": _num(logloss),
        "val_auc": _num(val_auc),
        "pretrain_seconds": float(pretrain_seconds),
        "continued_seconds": float(continued_seconds),
        "total_seconds": float(total_seconds if total_seconds is not None else pretrain_seconds + continued_seconds),
        "inference_seconds": float(inference_seconds),
        "train_samples_per_second": float(train_samples_per_second),
        "inference_samples_per_second": float(inference_samples_per_second),
        "params_before": int(params_before),
        "params_after": int(params_after),
        "versions": versions(),
        "protocol": schema.protocol,
    }
    for k, v in (extra or {}).items():
        if k in REQUIRED_KEYS:
            raise ValueError(f"extra key {k!r} would overwrite a required report key")
        report[k] = v
    return report


def make_task_report(*, task: str, method: str, model: str, dataset: str, protocol: str, seed: int,
                     metrics: Mapping[str, float], select_on: str, val_metric: float, train_rows: int,
                     params_before: int, params_after: int, train_seconds: float, total_seconds: float,
                     extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report of a top-K or next-item run: the task's test metrics by name (``recall@20`` ...), the
    validation metric that selected the epoch, parameters (nonzero ones after sparse training) and times."""
    report: dict[str, Any] = {
        "task": task, "method": method, "model": model, "dataset": dataset, "protocol": protocol, "seed": int(seed),
        **{k: _num(v) for k, v in metrics.items()}, "select_on": select_on, f"val_{select_on}": _num(val_metric),
        "train_rows": int(train_rows), "params_before": int(params_before), "params_after": int(params_after),
        "continued_seconds": float(train_seconds), "total_seconds": float(total_seconds), "versions": versions()}
    for k, v in (extra or {}).items():
        if k in report:
            raise ValueError(f"extra key {k!r} would overwrite a report key")
        report[k] = v
    return report
