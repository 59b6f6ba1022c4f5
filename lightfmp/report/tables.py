"""The paper's Table 2 (methods x data sets) and Table 3 (backbones +- Light-FMP) from run folders.

Conventions (paper Sec. 3.1, 4.1, 4.3):
- A cell averages over seeds: mean +- std (sample std, ddof=1; "" for one seed).
- TT (Table 2) is ``total_seconds`` relative to the No Selection run on the same data set, backbone and
  seed, then averaged over seeds; a run without its No Selection partner gets no TT.
- Table 2 takes one backbone (the paper: xDeepFM; default here: the most common backbone among the
  runs) and tau = 0.5 for every method but No Selection and MvFS (Table 2 caption); other taus are
  left out so that a tau sweep in the same folder does not mix in.
- Table 3: per backbone, No Selection vs Light-FMP; improvement % = 100 (new - old) / old for AUC,
  100 (old - new) / old for logloss and TT (positive = better), computed on the seed means.
"""
from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from lightfmp.errors import InputError

ORDER = ("none", "lasso", "pca", "xgboost", "optfs", "optem", "autofield", "adafs", "mvfs", "lightfmp")
LABELS = {"none": "No Selection", "lasso": "Lasso (shallow)", "pca": "PCA (shallow)",
          "xgboost": "XGBoost (shallow)", "optfs": "OptFS (deep)", "optem": "OptEm (deep)",
          "autofield": "AutoField (deep)", "adafs": "AdaFS (deep)", "mvfs": "MvFS (deep)",
          "lightfmp": "Light-FMP (deep)", "lightfmp-scratch": "Light-FMP, fresh init"}
BACKBONES = ("xdeepfm", "deepfm", "widedeep", "pnn", "dnn")
TWO_STAGE = ("optfs", "optem", "autofield", "lightfmp")  # the deep two-stage methods (paper Figure 2a)
MODEL_LABELS = {"xdeepfm": "xDeepFM", "deepfm": "DeepFM", "widedeep": "Wide&Deep", "pnn": "PNN", "dnn": "DNN"}


def load_reports(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """report.json of every run folder given, or found below a given folder (recursively)."""
    out = []
    for p in paths:
        p = Path(p)
        if (p / "report.json").is_file():
            files = [p / "report.json"]
        elif p.is_dir():
            files = sorted(p.rglob("report.json"))
        else:
            raise InputError("expected a run folder (with report.json) or a folder of them", path=p)
        if not files:
            raise InputError("no report.json found in or below this folder", path=p)
        for f in files:
            try:
                r = json.loads(f.read_text())
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON ({exc.msg})", path=f, line=exc.lineno) from None
            for k in ("method", "model", "dataset", "seed", "auc", "logloss", "total_seconds"):
                if k not in r:
                    raise InputError(f"report lacks the key {k!r}", path=f)
            r["_path"] = str(f.parent)
            out.append(r)
    return out


def _stats(values: Sequence[float | None]) -> tuple[float, float, int]:
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size)


def _cell(mean: float, std: float, digits: int = 4) -> str:
    if not math.isfinite(mean):
        return "-"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if math.isfinite(std) else "")


def _whole_split(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leave out No Selection runs trained on train minus D_S (``run_method(train_rows="continued")``):
    the tables compare with No Selection on the whole training split, as the paper does."""
    return [r for r in reports if r.get("train_split", "train") == "train"]


def table2_data(reports: list[dict[str, Any]], model: str | None = None, tau: float = 0.5,
                pretrain_rows: int | None = None) -> dict[str, Any]:
    """{model, datasets, rows: {method: {dataset: {auc, logloss, tt: (mean, std, n)}}}}."""
    if model is None:
        counts = Counter(r["model"] for r in reports)
        model = counts.most_common(1)[0][0] if counts else "xdeepfm"
    runs = [r for r in _whole_split(reports) if r["model"] == model and r["method"] != "lightfmp-scratch"]
    runs = [r for r in runs if r["method"] in ("none", "mvfs") or abs(float(r.get("prune_ratio") or 0) - tau) < 1e-9]
    if pretrain_rows is not None:
        runs = [r for r in runs if not r["method"].startswith("lightfmp") or r.get("pretrain_rows") == pretrain_rows]
    base = {(r["dataset"], r["seed"]): r["total_seconds"] for r in runs if r["method"] == "none"}
    datasets = sorted({r["dataset"] for r in runs})
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        grouped[(r["method"], r["dataset"])].append(r)
    methods = [m for m in ORDER if any(k[0] == m for k in grouped)]
    methods += sorted({k[0] for k in grouped} - set(methods))
    rows: dict[str, dict[str, dict[str, tuple[float, float, int]]]] = {}
    for m in methods:
        rows[m] = {}
        for d in datasets:
            rs = grouped.get((m, d), [])
            tt = [r["total_seconds"] / base[(d, r["seed"])] for r in rs
                  if base.get((d, r["seed"])) and r.get("total_seconds") is not None]
            rows[m][d] = {"auc": _stats([r["auc"] for r in rs]), "logloss": _stats([r["logloss"] for r in rs]),
                          "tt": _stats(tt), "seconds": _stats([r["total_seconds"] for r in rs])}
    return {"model": model, "tau": tau, "datasets": datasets, "rows": rows}


def table2(reports: list[dict[str, Any]], model: str | None = None, tau: float = 0.5) -> str:
    """Markdown Table 2: AUC, logloss, TT (relative to No Selection) per method and data set."""
    t = table2_data(reports, model, tau)
    ds = t["datasets"]
    head = "| Selection approach | " + " | ".join(f"{d} AUC ↑ | {d} Logloss ↓ | {d} TT ↓" for d in ds) + " |"
    sep = "|---|" + "---|" * (3 * len(ds))
    lines = [f"Table 2: feature selection with the {MODEL_LABELS.get(t['model'], t['model'])} backbone, "
             f"tau = {tau:g} (No Selection and MvFS: all fields); mean ± std over seeds; "
             "TT = total training time / No Selection's.", "", head, sep]
    for m, cells in t["rows"].items():
        parts = []
        for d in ds:
            c = cells[d]
            parts += [_cell(*c["auc"][:2]), _cell(*c["logloss"][:2]), _cell(*c["tt"][:2])]
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


def _improve(old: float, new: float, higher_better: bool) -> float:
    if not (math.isfinite(old) and math.isfinite(new)) or old == 0:
        return math.nan
    return 100.0 * ((new - old) if higher_better else (old - new)) / abs(old)


def table3_data(reports: list[dict[str, Any]], dataset: str | None = None, tau: float = 0.5) -> dict[str, Any]:
    """{dataset, rows: {backbone: {none: {...}, lightfmp: {...}, improvement: {auc, logloss, tt}}}}."""
    if dataset is None:
        counts = Counter(r["dataset"] for r in reports if r["method"] == "lightfmp")
        dataset = counts.most_common(1)[0][0] if counts else None
    runs = [r for r in _whole_split(reports) if r["dataset"] == dataset]
    rows: dict[str, dict[str, Any]] = {}
    models = [m for m in BACKBONES if any(r["model"] == m for r in runs)]
    models += sorted({r["model"] for r in runs} - set(models))
    for m in models:
        none = [r for r in runs if r["model"] == m and r["method"] == "none"]
        lf = [r for r in runs if r["model"] == m and r["method"] == "lightfmp"
              and abs(float(r.get("prune_ratio") or 0) - tau) < 1e-9]
        if not none or not lf:
            continue
        pair = {}
        for name, rs in (("none", none), ("lightfmp", lf)):
            pair[name] = {"auc": _stats([r["auc"] for r in rs]), "logloss": _stats([r["logloss"] for r in rs]),
                          "seconds": _stats([r["total_seconds"] for r in rs])}
        pair["improvement"] = {
            "auc": _improve(pair["none"]["auc"][0], pair["lightfmp"]["auc"][0], True),
            "logloss": _improve(pair["none"]["logloss"][0], pair["lightfmp"]["logloss"][0], False),
            "tt": _improve(pair["none"]["seconds"][0], pair["lightfmp"]["seconds"][0], False)}
        rows[m] = pair
    return {"dataset": dataset, "tau": tau, "rows": rows}


def table3(reports: list[dict[str, Any]], dataset: str | None = None, tau: float = 0.5) -> str:
    """Markdown Table 3: each backbone with and without Light-FMP, and the improvement in %."""
    t = table3_data(reports, dataset, tau)
    lines = [f"Table 3: backbones with and without Light-FMP (tau = {tau:g}) on {t['dataset']}; "
             "mean ± std over seeds; TT in seconds; improvement % (positive = better).", "",
             "| Backbone | AUC ↑ | Logloss ↓ | TT (s) ↓ |", "|---|---|---|---|"]
    for m, p in t["rows"].items():
        label = MODEL_LABELS.get(m, m)
        for name, tag in (("none", label), ("lightfmp", "+ Light-FMP")):
            c = p[name]
            lines.append(f"| {tag} | {_cell(*c['auc'][:2])} | {_cell(*c['logloss'][:2])} | "
                         f"{_cell(*c['seconds'][:2], digits=1)} |")
        imp = p["improvement"]
        lines.append("| Improvement (%) | " + " | ".join(
            "-" if not math.isfinite(imp[k]) else f"{imp[k]:.2f}" for k in ("auc", "logloss", "tt")) + " |")
    if not t["rows"]:
        lines.append("| (no backbone has both a No Selection and a Light-FMP run) | | | |")
    return "\n".join(lines)


def _stage1_samples(r: dict[str, Any]) -> float | None:
    """Samples the first stage pushed through the model: pretraining steps x its batch (Light-FMP), search
    steps x the training batch (OptFS, OptEm, AutoField). Read from the run's config.json; None if absent."""
    cfg_path = Path(r.get("_path", "")) / "config.json"
    if not cfg_path.is_file():
        return None
    cfg = json.loads(cfg_path.read_text())
    if r.get("pretrain_steps") is not None:
        batch = (cfg.get("pretrain_config") or {}).get("batch_size")
        return r["pretrain_steps"] * batch if batch else None
    if r.get("search_steps") is not None:
        batch = (cfg.get("train_config") or {}).get("batch_size")
        return r["search_steps"] * batch if batch else None
    return None


def stage_times_data(reports: list[dict[str, Any]], model: str = "xdeepfm", tau: float = 0.5) -> dict[str, Any]:
    """Where a two-stage method's training time goes (the paper's Figure 2a as shares): per data set and
    method, the first stage (Light-FMP's pretraining on D_S, a baseline's search) and the second (continued
    training / retraining), each divided by No Selection's TT on the same data set and seed, and the
    first stage's samples per row of the whole training split (how many passes over the data it costs).
    {datasets, rows: {method: {dataset: {stage1, stage2, tt, passes: (mean, std, n)}}}}."""
    runs = [r for r in _whole_split(reports) if r["model"] == model]
    base = {(r["dataset"], r["seed"]): r for r in runs if r["method"] == "none"}
    datasets = sorted({r["dataset"] for r in runs})
    rows: dict[str, dict[str, dict[str, tuple[float, float, int]]]] = {}
    for m in TWO_STAGE:
        ms = [r for r in runs if r["method"] == m and abs(float(r.get("prune_ratio") or 0) - tau) < 1e-9]
        if not ms:
            continue
        rows[m] = {}
        for d in datasets:
            rs = [(r, base[(d, r["seed"])]) for r in ms if r["dataset"] == d and (d, r["seed"]) in base
                  and base[(d, r["seed"])]["total_seconds"]]
            samples = [(_stage1_samples(r), b["train_rows"]) for r, b in rs]
            rows[m][d] = {
                "stage1": _stats([r["pretrain_seconds"] / b["total_seconds"] for r, b in rs]),
                "stage2": _stats([r["continued_seconds"] / b["total_seconds"] for r, b in rs]),
                "tt": _stats([r["total_seconds"] / b["total_seconds"] for r, b in rs]),
                "passes": _stats([s / n if s is not None and n else None for s, n in samples])}
    return {"model": model, "tau": tau, "datasets": datasets, "rows": rows}


def stage_times(reports: list[dict[str, Any]], model: str = "xdeepfm", tau: float = 0.5) -> str:
    """Markdown: each two-stage deep method's first and second stage as shares of No Selection's TT."""
    return format_stage_times(stage_times_data(reports, model, tau))


def format_stage_times(t: dict[str, Any]) -> str:
    """The markdown of ``stage_times`` from data ``stage_times_data`` already computed (it reads every
    run's config.json, so a caller holding the data does not compute it twice)."""
    lines = ["| data set | method | stage 1 / No Sel. TT | stage 2 / No Sel. TT | TT ratio | "
             "stage 1 samples / train rows |", "|---|---|---|---|---|---|"]
    for d in t["datasets"]:
        for m, cells in t["rows"].items():
            c = cells[d]
            if not c["tt"][2]:
                continue
            lines.append(f"| {d} | {LABELS.get(m, m).split(' (')[0]} | {_cell(*c['stage1'][:2], digits=3)} | "
                         f"{_cell(*c['stage2'][:2], digits=3)} | {_cell(*c['tt'][:2], digits=3)} | "
                         f"{_cell(*c['passes'][:2], digits=2)} |")
    return "\n".join(lines)
