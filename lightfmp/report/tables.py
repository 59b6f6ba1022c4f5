"""The paper's Table 2 (methods x data sets) and Table 3 (backbones +- Light-FMP) from run folders.

Conventions (paper Sec. 3.1, 4.1, 4.3):
- A cell averages over seeds only: mean +- std (sample std, ddof=1; none for one seed) of runs whose
  settings are otherwise equal, with their count n. Where one method's runs in a cell differ in more
  than the seed, the method gets one row per variant and a note under the table names the settings
  (`lightfmp.report.grouping`). A fresh-init Light-FMP run ("lightfmp-scratch") is its own method.
- TT (Table 2) is ``total_seconds`` relative to the No Selection run on the same data set, backbone and
  seed, trained the same way (`grouping.best_match`), then averaged over seeds; a run without such a
  partner gets no TT, and a TT cell from fewer runs than its row says so ("(n=1)").
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
from typing import Iterator, Any, Iterable, Sequence

import numpy as np

from lightfmp.errors import InputError
from lightfmp.report.grouping import best_match, method_of, split_rows, variant_label

ORDER = ("none", "lasso", "pca", "xgboost", "optfs", "optem", "autofield", "adafs", "mvfs", "lightfmp")
LABELS = {"none": "No Selection", "lasso": "Lasso (shallow)", "pca": "PCA (shallow)",
          "xgboost": "XGBoost (shallow)", "optfs": "OptFS (deep)", "optem": "OptEm (deep)",
          "autofield": "AutoField (deep)", "adafs": "AdaFS (deep)", "mvfs": "MvFS (deep)",
          "lightfmp": "Light-FMP (deep)", "lightfmp-scratch": "Light-FMP, fresh init"}
BACKBONES = ("xdeepfm", "deepfm", "widedeep", "pnn", "dnn")
TWO_STAGE = ("optfs", "optem", "autofield", "lightfmp")  # the deep two-stage methods (paper Figure 2a)
MODEL_LABELS = {"xdeepfm": "xDeepFM", "deepfm": "DeepFM", "widedeep": "Wide&Deep", "pnn": "PNN", "dnn": "DNN"}


def _read_json(f: Path) -> Any:
    try:
        text = f.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read it ({type(exc).__name__})", path=f) from None
    if not text.strip():
        raise InputError("is empty (expected a JSON object)", path=f)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", path=f, line=exc.lineno) from None
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, found {type(obj).__name__}", path=f)
    return obj


def load_reports(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """report.json of every run folder given, or found below a given folder (recursively; hidden folders,
    such as a run folder being written, are skipped). The folder's config.json, where present, is read
    too (``_config``): the report groups runs by it."""
    out = []
    for p in paths:
        p = Path(p)
        if (p / "report.json").is_file():
            files = [p / "report.json"]
        elif p.is_dir():
            files = sorted(f for f in p.rglob("report.json")
                           if not any(part.startswith(".") for part in f.relative_to(p).parts[:-1]))
        else:
            what = "does not exist" if not p.exists() else "is a file"
            raise InputError(f"{what}; expected a run folder (with report.json) or a folder of them", path=p)
        if not files:
            raise InputError("is not a run folder: no report.json in or below it", path=p)
        for f in files:
            r = _read_json(f)
            if r.get("task", "ctr") != "ctr":  # the paper's tables compare CTR runs
                raise InputError(f"a {r['task']} run ({', '.join(k for k in r if '@' in k)}): the tables compare "
                                 "CTR runs (train, prune, select); read its report.json", path=f)
            for k in ("method", "model", "dataset", "seed", "auc", "logloss", "total_seconds"):
                if k not in r:
                    raise InputError(f"report lacks the key {k!r}", path=f)
            cfg = f.parent / "config.json"
            r["_config"] = _read_json(cfg) if cfg.exists() else None
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


def _cell_n(stats: tuple[float, float, int], n: int, digits: int = 4) -> str:
    """A mean cell, with its own run count where fewer runs than the row's n give it (e.g. TT without a
    No Selection partner for every seed)."""
    text = _cell(stats[0], stats[1], digits)
    return text + (f" (n={stats[2]})" if math.isfinite(stats[0]) and stats[2] != n else "")


def _whole_split(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leave out No Selection runs trained on train minus D_S (``experiment.run(train_rows="continued")``):
    the tables compare with No Selection on the whole training split, as the paper does."""
    return [r for r in reports if r.get("train_split", "train") == "train"]


def _at_tau(r: dict[str, Any], tau: float) -> bool:
    return abs(float(r.get("prune_ratio") or 0) - tau) < 1e-9


def _base_of(r: dict[str, Any], nones: dict[tuple[str, Any], list[dict[str, Any]]]) -> dict[str, Any] | None:
    """r's No Selection partner: same data set and seed, trained the same way (`best_match`)."""
    cands = nones.get((r["dataset"], r["seed"]), [])
    i = best_match(r, [[c] for c in cands])
    return None if i is None else cands[i]


def _nones(runs: list[dict[str, Any]]) -> dict[tuple[str, Any], list[dict[str, Any]]]:
    out: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        if method_of(r) == "none":
            out[(r["dataset"], r["seed"])].append(r)
    return out


def table2_data(reports: list[dict[str, Any]], model: str | None = None, tau: float = 0.5,
                pretrain_rows: int | None = None) -> dict[str, Any]:
    """{model, tau, datasets, rows: {row: {dataset: {auc, logloss, tt, seconds: (mean, std, n), n}}}, labels,
    groups, varying, note}. A row is a method, or a method's variant where its runs in one cell differ in
    more than the seed (`lightfmp.report.grouping`)."""
    if model is None:
        counts = Counter(r["model"] for r in reports)
        model = counts.most_common(1)[0][0] if counts else "xdeepfm"
    runs = [r for r in _whole_split(reports) if r["model"] == model and method_of(r) != "lightfmp-scratch"]
    runs = [r for r in runs if method_of(r) in ("none", "mvfs") or _at_tau(r, tau)]
    if pretrain_rows is not None:
        runs = [r for r in runs if not method_of(r).startswith("lightfmp") or r.get("pretrain_rows") == pretrain_rows]
    nones = _nones(runs)
    datasets = sorted({r["dataset"] for r in runs})
    split = split_rows(runs, lambda r: r["dataset"], ORDER)
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for key, cells in split.rows.items():
        rows[key] = {}
        for d in datasets:
            rs = cells.get(d, [])
            tt = []
            for r in rs:
                b = _base_of(r, nones)
                if b is not None and b.get("total_seconds") and r.get("total_seconds") is not None:
                    tt.append(r["total_seconds"] / b["total_seconds"])
            rows[key][d] = {"auc": _stats([r["auc"] for r in rs]), "logloss": _stats([r["logloss"] for r in rs]),
                            "tt": _stats(tt), "seconds": _stats([r["total_seconds"] for r in rs]), "n": len(rs)}
    return {"model": model, "tau": tau, "datasets": datasets, "rows": rows,
            "labels": {k: split.label(k, LABELS) for k in split.rows}, "groups": split.groups(),
            "varying": {m: v for m, v in split.varying.items() if v}, "note": split.note(LABELS)}


def table2(reports: list[dict[str, Any]], model: str | None = None, tau: float = 0.5) -> str:
    """Markdown Table 2: AUC, logloss, TT (relative to No Selection) per method and data set, n runs each."""
    return format_table2(table2_data(reports, model, tau))


def format_table2(t: dict[str, Any]) -> str:
    """The markdown of `table2` from `table2_data`'s result."""
    ds = t["datasets"]
    head = ("| Selection approach | " + " | ".join(f"{d} AUC ↑ | {d} Logloss ↓ | {d} TT ↓ | {d} n" for d in ds)
            + " |")
    sep = "|---|" + "---|" * (4 * len(ds))
    lines = [f"Table 2: feature selection with the {MODEL_LABELS.get(t['model'], t['model'])} backbone, "
             f"tau = {t['tau']:g} (No Selection and MvFS: all fields); mean ± std over n seeds (no ± for n = 1); "
             "TT = total training time / No Selection's (same data set and seed; where several, the one trained "
             "most alike).", "", head, sep]
    for key, cells in t["rows"].items():
        parts = []
        for d in ds:
            c = cells[d]
            parts += [_cell_n(c["auc"], c["n"]), _cell_n(c["logloss"], c["n"]), _cell_n(c["tt"], c["n"]), str(c["n"])]
        lines.append(f"| {t['labels'].get(key, key)} | " + " | ".join(parts) + " |")
    if t.get("note"):
        lines += ["", t["note"]]
    return "\n".join(lines)


def _improve(old: float, new: float, higher_better: bool) -> float:
    if not (math.isfinite(old) and math.isfinite(new)) or old == 0:
        return math.nan
    return 100.0 * ((new - old) if higher_better else (old - new)) / abs(old)


def table3_data(reports: list[dict[str, Any]], dataset: str | None = None, tau: float = 0.5) -> dict[str, Any]:
    """{dataset, tau, rows: {row: {model, none: {...}, lightfmp: {...}, improvement: {auc, logloss, tt},
    none_variant, lightfmp_variant}}, groups, note}. A row is a backbone, or one Light-FMP variant of it
    paired with the No Selection trained the same way where a backbone's runs differ in more than the seed."""
    if dataset is None:
        counts = Counter(r["dataset"] for r in reports if method_of(r) == "lightfmp")
        dataset = counts.most_common(1)[0][0] if counts else None
    split = backbone_split(reports, dataset, tau)
    rows: dict[str, dict[str, Any]] = {}
    for m, k, n, single in backbone_pairs(split):
        pair: dict[str, Any] = {"model": m, "none_variant": split.variant[n],
                                "lightfmp_variant": split.variant[k]}
        for name, rs in (("none", split.rows[n][m]), ("lightfmp", split.rows[k][m])):
            pair[name] = {"auc": _stats([r["auc"] for r in rs]), "logloss": _stats([r["logloss"] for r in rs]),
                          "seconds": _stats([r["total_seconds"] for r in rs]), "n": len(rs)}
        pair["improvement"] = {
            "auc": _improve(pair["none"]["auc"][0], pair["lightfmp"]["auc"][0], True),
            "logloss": _improve(pair["none"]["logloss"][0], pair["lightfmp"]["logloss"][0], False),
            "tt": _improve(pair["none"]["seconds"][0], pair["lightfmp"]["seconds"][0], False)}
        rows[m if single else f"{m} ({variant_label(split.variant[k])})"] = pair
    return {"dataset": dataset, "tau": tau, "rows": rows, "groups": split.groups(),
            "varying": {m: v for m, v in split.varying.items() if v}, "note": split.note(LABELS)}


def backbone_split(reports: list[dict[str, Any]], dataset: str | None, tau: float) -> Any:
    """Table 3's runs of ``dataset`` (No Selection, and Light-FMP at ``tau``), split by backbone and settings."""
    runs = [r for r in _whole_split(reports) if r["dataset"] == dataset
            and (method_of(r) == "none" or (method_of(r) == "lightfmp" and _at_tau(r, tau)))]
    return split_rows(runs, lambda r: r["model"], ("none", "lightfmp"))


def backbone_pairs(split: Any) -> Iterator[tuple[str, Any, Any, bool]]:
    """(backbone, Light-FMP row key, the No Selection row key trained the same way, whether each is the only
    one) for every backbone of ``split``, backbones in the paper's order."""
    present = {m for cells in split.rows.values() for m in cells}
    models = [m for m in BACKBONES if m in present] + sorted(present - set(BACKBONES))
    for m in models:
        nk = [k for k, cells in split.rows.items() if split.method[k] == "none" and m in cells]
        lk = [k for k, cells in split.rows.items() if split.method[k] == "lightfmp" and m in cells]
        for k in lk:
            i = best_match(split.rows[k][m][0], [split.rows[n][m] for n in nk])
            if i is not None:
                yield m, k, nk[i], len(lk) == 1 and len(nk) == 1


def table3(reports: list[dict[str, Any]], dataset: str | None = None, tau: float = 0.5) -> str:
    """Markdown Table 3: each backbone with and without Light-FMP, and the improvement in %."""
    return format_table3(table3_data(reports, dataset, tau))


def format_table3(t: dict[str, Any]) -> str:
    """The markdown of `table3` from `table3_data`'s result."""
    lines = [f"Table 3: backbones with and without Light-FMP (tau = {t['tau']:g}) on {t['dataset']}; "
             "mean ± std over n seeds (no ± for n = 1); TT in seconds; improvement % (positive = better).", "",
             "| Backbone | AUC ↑ | Logloss ↓ | TT (s) ↓ | n |", "|---|---|---|---|---|"]
    for p in t["rows"].values():
        label = MODEL_LABELS.get(p["model"], p["model"])
        for name, tag in (("none", label), ("lightfmp", "+ Light-FMP")):
            c, var = p[name], variant_label(p[f"{name}_variant"])
            tag = f"{tag} ({var})" if var else tag
            lines.append(f"| {tag} | {_cell_n(c['auc'], c['n'])} | {_cell_n(c['logloss'], c['n'])} | "
                         f"{_cell_n(c['seconds'], c['n'], digits=1)} | {c['n']} |")
        imp = p["improvement"]
        lines.append("| Improvement (%) | " + " | ".join(
            "-" if not math.isfinite(imp[k]) else f"{imp[k]:.2f}" for k in ("auc", "logloss", "tt")) + " | |")
    if not t["rows"]:
        lines.append("| (no backbone has both a No Selection and a Light-FMP run) | | | | |")
    if t.get("note"):
        lines += ["", t["note"]]
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
    training / retraining), each divided by No Selection's TT on the same data set and seed (trained the
    same way), and the first stage's samples per row of the whole training split (how many passes over the
    data it costs). {datasets, rows: {row: {dataset: {stage1, stage2, tt, passes: (mean, std, n)}}}, labels,
    note}; rows split by variant as in `table2_data`."""
    runs = [r for r in _whole_split(reports) if r["model"] == model]
    nones = _nones(runs)
    datasets = sorted({r["dataset"] for r in runs})
    split = split_rows([r for r in runs if method_of(r) in TWO_STAGE and _at_tau(r, tau)],
                       lambda r: r["dataset"], TWO_STAGE)
    rows: dict[str, dict[str, dict[str, tuple[float, float, int]]]] = {}
    for key, cells in split.rows.items():
        rows[key] = {}
        for d in datasets:
            rs = [(r, _base_of(r, nones)) for r in cells.get(d, [])]
            rs = [(r, b) for r, b in rs if b is not None and b["total_seconds"]]
            samples = [(_stage1_samples(r), b["train_rows"]) for r, b in rs]
            rows[key][d] = {
                "stage1": _stats([r["pretrain_seconds"] / b["total_seconds"] for r, b in rs]),
                "stage2": _stats([r["continued_seconds"] / b["total_seconds"] for r, b in rs]),
                "tt": _stats([r["total_seconds"] / b["total_seconds"] for r, b in rs]),
                "passes": _stats([s / n if s is not None and n else None for s, n in samples])}
    return {"model": model, "tau": tau, "datasets": datasets, "rows": rows,
            "labels": {k: split.label(k, {m: LABELS.get(m, m).split(" (")[0] for m in TWO_STAGE})
                       for k in split.rows},
            "note": split.note(LABELS)}


def stage_times(reports: list[dict[str, Any]], model: str = "xdeepfm", tau: float = 0.5) -> str:
    """Markdown: each two-stage deep method's first and second stage as shares of No Selection's TT."""
    return format_stage_times(stage_times_data(reports, model, tau))


def format_stage_times(t: dict[str, Any]) -> str:
    """The markdown of ``stage_times`` from data ``stage_times_data`` already computed (it reads every
    run's config.json, so a caller holding the data does not compute it twice)."""
    labels = t.get("labels", {})
    lines = ["| data set | method | stage 1 / No Sel. TT | stage 2 / No Sel. TT | TT ratio | "
             "stage 1 samples / train rows | n |", "|---|---|---|---|---|---|---|"]
    for d in t["datasets"]:
        for m, cells in t["rows"].items():
            c = cells[d]
            n = c["tt"][2]
            if not n:
                continue
            lines.append(f"| {d} | {labels.get(m, LABELS.get(m, m).split(' (')[0])} | "
                         f"{_cell_n(c['stage1'], n, 3)} | {_cell_n(c['stage2'], n, 3)} | {_cell_n(c['tt'], n, 3)} | "
                         f"{_cell_n(c['passes'], n, 2)} | {n} |")
    if t.get("note"):
        lines += ["", t["note"]]
    return "\n".join(lines)
