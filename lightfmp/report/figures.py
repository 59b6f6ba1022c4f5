"""The paper's Figures 2a-2d and 3 as PNGs, from run folders' report.json dicts.

Each point or bar is a mean over seeds of runs with otherwise equal settings (`lightfmp.report.grouping`):
runs that differ in more than the seed become separate bars or lines, labelled by what differs. Error
bars are the std over seeds where n > 1, and every bar or point carries its run count (n=...). No
Selection (same data set, backbone and training settings) is drawn as a reference: a bar in 2a and 2b,
a dashed line with a +-std band in 2c and 2d.
- 2a: PT and CT (stacked bars, seconds) of the two-stage deep methods (OptFS, OptEm, AutoField,
  Light-FMP) on one data set and backbone, No Selection's TT beside them.
- 2b: initialisation ablation per backbone: AUC and logloss of No Selection, Light-FMP (pretrained
  init) and Light-FMP with fresh init ("lightfmp-scratch", `lightfmp prune --init scratch`).
- 2c: Light-FMP at tau = 0, 25, 50, 75%: AUC, logloss and TT (seconds).
- 2d: Light-FMP vs the pretraining size |D_S|: AUC and logloss.
- 3: Light-FMP's mask heatmap across prune ratios (`lightfmp.plots.mask_heatmap_from_reports`), one
  seed per ratio, from the variant with the most ratios.
A figure whose runs are absent is skipped (the returned dict says which were written).
Matplotlib's Agg canvas, no pyplot state.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lightfmp.errors import InputError
from lightfmp.report.grouping import best_match, method_of, split_rows, variant_label
from lightfmp.report.tables import BACKBONES, LABELS, MODEL_LABELS, TWO_STAGE

NONE_COLOR = "tab:gray"


def _figure(ncols: int = 1, width: float = 5.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, 3.6), dpi=120)
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _stat(rs: Sequence[dict[str, Any]], key: str) -> tuple[float, float, int]:
    """(mean, std or 0 for one run, n) of ``key`` over the runs that record it."""
    v = [float(r[key]) for r in rs if r.get(key) is not None and math.isfinite(float(r[key]))]
    if not v:
        return math.nan, 0.0, 0
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v)


def _err(s: tuple[float, float, int]) -> float:
    """The error bar: std over seeds, none (NaN draws nothing) for a single run."""
    return s[1] if s[2] > 1 else math.nan


def _short(method: str) -> str:
    return LABELS.get(method, method).split(" (")[0]


def _whole(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in reports if r.get("train_split", "train") == "train"]


def _at(r: dict[str, Any], tau: float) -> bool:
    return abs(float(r.get("prune_ratio") or 0) - tau) < 1e-9


def _no_selection(reports: list[dict[str, Any]], dataset: str, model: str,
                  ref: dict[str, Any]) -> list[dict[str, Any]]:
    """No Selection runs of ``dataset`` / ``model`` trained like ``ref`` (one group of equal settings)."""
    runs = [r for r in _whole(reports) if method_of(r) == "none" and r["dataset"] == dataset and r["model"] == model]
    groups = [cells[model] for cells in split_rows(runs, lambda r: r["model"]).rows.values()]
    i = best_match(ref, groups)
    return [] if i is None else groups[i]


def _pick(reports: list[dict[str, Any]], dataset: str | None, model: str | None) -> tuple[str, str]:
    lf = [r for r in reports if method_of(r) == "lightfmp"] or reports
    dataset = dataset or max({r["dataset"] for r in lf}, key=lambda d: sum(r["dataset"] == d for r in lf))
    lf = [r for r in lf if r["dataset"] == dataset] or lf
    model = model or max({r["model"] for r in lf}, key=lambda m: sum(r["model"] == m for r in lf))
    return dataset, model


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    return path


def fig2a(reports: list[dict[str, Any]], path: Path, dataset: str, model: str, tau: float = 0.5) -> Path | None:
    runs = [r for r in _whole(reports) if method_of(r) in TWO_STAGE and r["dataset"] == dataset
            and r["model"] == model and _at(r, tau)]
    split = split_rows(runs, lambda r: 0, TWO_STAGE)
    if not split.rows:
        return None
    bars = []  # (label, pt, ct, total (mean, std, n), colour or None)
    first = next(iter(split.rows.values()))[0][0]
    base = _no_selection(reports, dataset, model, first)
    if base:
        bars.append(("No Selection", (0.0, 0.0, 0), _stat(base, "total_seconds"), _stat(base, "total_seconds"),
                     NONE_COLOR))
    for key, cells in split.rows.items():
        rs = cells[0]
        bars.append((split.label(key, {m: _short(m) for m in TWO_STAGE}), _stat(rs, "pretrain_seconds"),
                     _stat(rs, "continued_seconds"), _stat(rs, "total_seconds"), None))
    fig, (ax,) = _figure(width=max(7.0, 1.1 * len(bars) + 4.0))
    x = np.arange(len(bars))
    own = [i for i, b in enumerate(bars) if b[4] is None]
    if base:
        ax.bar(x[:1], [bars[0][3][0]], color=NONE_COLOR, label="No Selection (training)")
    ax.bar(x[own], [bars[i][1][0] for i in own], color="tab:orange", label="pretraining / selection (PT)")
    ax.bar(x[own], [bars[i][2][0] for i in own], bottom=[bars[i][1][0] for i in own], color="tab:blue",
           label="continued training / retraining (CT)")
    tot = [b[3] for b in bars]
    ax.errorbar(x, [t[0] for t in tot], yerr=[_err(t) for t in tot], fmt="none", ecolor="black", capsize=3)
    for i, t in enumerate(tot):
        top = t[0] + (_err(t) if t[2] > 1 else 0.0)
        ax.annotate(f"n={t[2]}", (x[i], top), textcoords="offset points", xytext=(0, 3), ha="center",
                    fontsize=7)
    ax.set_xticks(x)
    ax.set_xticklabels([b[0] for b in bars], fontsize=7)
    ax.set_ylabel("seconds (mean ± std over seeds)")
    ax.set_title(f"Fig. 2a: PT and CT, {MODEL_LABELS.get(model, model)} on {dataset}, tau = {tau:g}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: it hid the n labels
    return _save(fig, path)


def fig2b(reports: list[dict[str, Any]], path: Path, dataset: str, tau: float = 0.5) -> Path | None:
    """Init ablation per backbone: No Selection, Light-FMP (pretrained init), Light-FMP (fresh init)."""
    runs = [r for r in _whole(reports) if r["dataset"] == dataset and method_of(r) in ("lightfmp", "lightfmp-scratch")
            and _at(r, tau)]
    split = split_rows(runs, lambda r: r["model"], ("lightfmp", "lightfmp-scratch"))
    models = [m for m in BACKBONES if any(r["model"] == m for r in runs)]
    models += sorted({r["model"] for r in runs} - set(models))
    groups = []  # (x label, [(series, runs)])
    for m in models:
        scratch = [k for k, c in split.rows.items() if split.method[k] == "lightfmp-scratch" and m in c]
        pre = [k for k, c in split.rows.items() if split.method[k] == "lightfmp" and m in c]
        for k in scratch:
            ref = split.rows[k][m][0]
            i = best_match(ref, [split.rows[p][m] for p in pre])
            if i is None:
                continue
            var = variant_label(split.variant[k])
            label = MODEL_LABELS.get(m, m) + (f"\n{var}" if var and len(scratch) > 1 else "")
            groups.append((label, [("No Selection", _no_selection(reports, dataset, m, ref)),
                                   ("Light-FMP, pretrained init", split.rows[pre[i]][m]),
                                   ("Light-FMP, fresh init", split.rows[k][m])]))
    if not groups:
        return None
    colours = {"No Selection": NONE_COLOR, "Light-FMP, pretrained init": "tab:blue",
               "Light-FMP, fresh init": "tab:orange"}
    fig, axes = _figure(2, max(4.0, 1.3 * len(groups) + 1.5))
    x = np.arange(len(groups))
    w = 0.27
    for ax, key, lab in zip(axes, ("auc", "logloss"), ("AUC ↑", "Logloss ↓")):
        lo, hi = math.inf, -math.inf
        for j, series in enumerate(colours):
            stats = [_stat(dict(g[1])[series], key) for g in groups]
            xs = x + (j - 1) * w
            means = np.array([s[0] for s in stats])
            ax.bar(xs, np.nan_to_num(means), w, yerr=[_err(s) for s in stats], capsize=2, color=colours[series],
                   label=series)
            for xi, s in zip(xs, stats):
                if s[2]:
                    ax.annotate(f"n={s[2]}", (xi, s[0] + s[1]), textcoords="offset points", xytext=(0, 2),
                                ha="center", fontsize=6)
                    lo, hi = min(lo, s[0] - s[1]), max(hi, s[0] + s[1])
        if math.isfinite(lo):
            pad = max(hi - lo, 1e-3) * 0.6
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xticks(x)
        ax.set_xticklabels([g[0] for g in groups], fontsize=7)
        ax.set_ylabel(f"{lab} (mean ± std over seeds)")
    axes[0].legend(fontsize=7)
    axes[0].set_title(f"Fig. 2b: initialisation of the compact model, {dataset}, tau = {tau:g}", fontsize=9)
    return _save(fig, path)


Line = tuple[str, list[float], list[list[dict[str, Any]]]]  # (variant label, xs, the runs at each x)


def _lines(runs: list[dict[str, Any]], axis: str, ignore: Sequence[str]) -> list[Line]:
    """Runs as lines over ``axis``: one line per variant of the other settings with at least two x values;
    each point holds the runs it averages."""
    split = split_rows(runs, lambda r: float(r[axis]), ignore=(axis, *ignore))
    out = []
    for key, cells in split.rows.items():
        xs = sorted(cells)
        if len(xs) >= 2:
            out.append((variant_label(split.variant[key]), xs, [cells[x] for x in xs]))
    return out


def _draw_lines(ax: Any, lines: list[Line], key: str, scale: float = 1.0) -> None:
    for name, xs, points in lines:
        stats = [_stat(p, key) for p in points]
        ax.errorbar([scale * x for x in xs], [s[0] for s in stats], yerr=[_err(s) for s in stats], marker="o",
                    capsize=3, label="Light-FMP" + (f" ({name})" if name else ""))
        for x, s in zip(xs, stats):
            ax.annotate(f"n={s[2]}", (scale * x, s[0]), textcoords="offset points", xytext=(4, 4), fontsize=6)


def _draw_base(ax: Any, base: list[dict[str, Any]], key: str) -> None:
    if not base:
        return
    m, sd, n = _stat(base, key)
    ax.axhline(m, linestyle="--", color=NONE_COLOR, label=f"No Selection (n={n})")
    if sd > 0:
        ax.axhspan(m - sd, m + sd, color=NONE_COLOR, alpha=0.15, linewidth=0)


def fig2c(reports: list[dict[str, Any]], path: Path, dataset: str, model: str) -> Path | None:
    rs = [r for r in _whole(reports) if method_of(r) == "lightfmp" and r["dataset"] == dataset and r["model"] == model]
    lines = _lines(rs, "prune_ratio", ())
    if not lines:
        return None
    base = _no_selection(reports, dataset, model, lines[0][2][0][0])
    fig, axes = _figure(3, 3.6)
    for ax, k, lab in zip(axes, ("auc", "logloss", "total_seconds"), ("AUC", "Logloss", "TT (s)")):
        _draw_lines(ax, lines, k, 100.0)
        _draw_base(ax, base, k)
        ax.set_xlabel("prune ratio tau (%)")
        ax.set_ylabel(f"{lab} (mean ± std)")
    axes[0].legend(fontsize=6)
    axes[0].set_title(f"Fig. 2c: prune ratio, {MODEL_LABELS.get(model, model)} on {dataset}", fontsize=9)
    return _save(fig, path)


def fig2d(reports: list[dict[str, Any]], path: Path, dataset: str, model: str, tau: float = 0.5) -> Path | None:
    rs = [r for r in _whole(reports) if method_of(r) == "lightfmp" and r["dataset"] == dataset and r["model"] == model
          and _at(r, tau)]
    lines = _lines(rs, "pretrain_rows", ("train_rows",))  # continued training's rows shrink as |D_S| grows
    if not lines:
        return None
    base = _no_selection(reports, dataset, model, lines[0][2][0][0])
    fig, axes = _figure(2, 4.2)
    for ax, k, lab in zip(axes, ("auc", "logloss"), ("AUC", "Logloss")):
        _draw_lines(ax, lines, k)
        _draw_base(ax, base, k)
        ax.set_xscale("log")
        ax.set_xlabel("pretraining rows |D_S|")
        ax.set_ylabel(f"{lab} (mean ± std)")
        ax.legend(fontsize=6)
    axes[0].set_title(f"Fig. 2d: pretraining size, {dataset}, tau = {tau:g}", fontsize=9)
    return _save(fig, path)


def fig3(reports: list[dict[str, Any]], path: Path, dataset: str, model: str) -> Path | None:
    from lightfmp.plots import mask_heatmap_from_reports

    rs = [r for r in _whole(reports) if method_of(r) == "lightfmp" and r["dataset"] == dataset
          and r["model"] == model and r.get("mask")]
    split = split_rows(rs, lambda r: float(r["prune_ratio"]), ignore=("prune_ratio",))
    if not split.rows:
        return None
    cells = max(split.rows.values(), key=len)  # the variant with the most ratios
    by = {tau: min(runs, key=lambda r: r["seed"]) for tau, runs in cells.items()}  # one seed per ratio (the lowest)
    return mask_heatmap_from_reports(list(by.values()), path,
                                     title=f"Fig. 3: Light-FMP mask, {MODEL_LABELS.get(model, model)} on {dataset}")


def check_plot_dir(outdir: str | Path) -> Path:
    """Fail early, before any figure is drawn, where ``outdir`` cannot be a folder of figures: it is a
    file, a file stands where one of its parents should be, or the nearest existing parent is read-only."""
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; --plot needs a folder to write the figures into", path=out)
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot be created: {parent} is a file, not a folder", path=out)
            if not out.exists() and not os.access(parent, os.W_OK | os.X_OK):
                raise InputError(f"cannot be created: {parent} is not writable", path=out)
            break
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise InputError("is not writable", path=out)
    return out


def draw_all(reports: list[dict[str, Any]], outdir: str | Path, dataset: str | None = None,
             model: str | None = None, tau: float = 0.5) -> dict[str, str]:
    """Write every figure whose runs exist into ``outdir``; returns {figure: path}."""
    out = check_plot_dir(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot be created ({exc.strerror})", path=out) from None
    if not reports:
        return {}
    dataset, model = _pick(reports, dataset, model)
    made = {
        "fig2a": fig2a(reports, out / "fig2a_time.png", dataset, model, tau),
        "fig2b": fig2b(reports, out / "fig2b_init_ablation.png", dataset, tau),
        "fig2c": fig2c(reports, out / "fig2c_prune_ratio.png", dataset, model),
        "fig2d": fig2d(reports, out / "fig2d_pretrain_size.png", dataset, model, tau),
        "fig3": fig3(reports, out / "fig3_mask_heatmap.png", dataset, model),
    }
    return {k: str(v) for k, v in made.items() if v is not None}
