"""The paper's Figures 2a-2d and 3 as PNGs, from run folders' report.json dicts.

Each figure averages over seeds. Runs are told apart by report keys only: method, model, dataset,
prune_ratio, pretrain_rows, pretrain_seconds, continued_seconds, total_seconds, auc, logloss, mask.
- 2a: PT and CT (stacked bars, seconds) of the two-stage deep methods (OptFS, OptEm, AutoField,
  Light-FMP) on one data set and backbone.
- 2b: Light-FMP's domain-adapted init vs fresh init ("lightfmp-scratch"): AUC and logloss improvement
  % per backbone.
- 2c: Light-FMP at tau = 0, 25, 50, 75%: AUC, logloss and TT (seconds).
- 2d: Light-FMP vs the pretraining size |D_S|: AUC and logloss, No Selection dashed.
- 3: Light-FMP's mask heatmap across prune ratios (`lightfmp.plots.mask_heatmap_from_reports`).
A figure whose runs are absent is skipped (the returned dict says which were written).
Matplotlib's Agg canvas, no pyplot state.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lightfmp.report.tables import BACKBONES, LABELS, MODEL_LABELS, TWO_STAGE


def _figure(ncols: int = 1, width: float = 5.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, 3.6), dpi=120)
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _mean(rs: Sequence[dict[str, Any]], key: str) -> float:
    v = [float(r[key]) for r in rs if r.get(key) is not None]
    return float(np.mean(v)) if v else math.nan


def _pick(reports: list[dict[str, Any]], dataset: str | None, model: str | None) -> tuple[str, str]:
    lf = [r for r in reports if r["method"] == "lightfmp"] or reports
    dataset = dataset or max({r["dataset"] for r in lf}, key=lambda d: sum(r["dataset"] == d for r in lf))
    lf = [r for r in lf if r["dataset"] == dataset] or lf
    model = model or max({r["model"] for r in lf}, key=lambda m: sum(r["model"] == m for r in lf))
    return dataset, model


def fig2a(reports: list[dict[str, Any]], path: Path, dataset: str, model: str, tau: float = 0.5) -> Path | None:
    rows = []
    for m in TWO_STAGE:
        rs = [r for r in reports if r["method"] == m and r["dataset"] == dataset and r["model"] == model
              and abs(float(r.get("prune_ratio") or 0) - tau) < 1e-9]
        if rs:
            rows.append((LABELS[m].split(" (")[0], _mean(rs, "pretrain_seconds"), _mean(rs, "continued_seconds")))
    if not rows:
        return None
    fig, (ax,) = _figure()
    x = np.arange(len(rows))
    pt, ct = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    ax.bar(x, pt, label="pretraining / selection (PT)", color="tab:orange")
    ax.bar(x, ct, bottom=pt, label="continued training / retraining (CT)", color="tab:blue")
    ax.set_xticks(x)
    ax.set_xticklabels([r[0] for r in rows])
    ax.set_ylabel("seconds")
    ax.set_title(f"Fig. 2a: PT and CT, {MODEL_LABELS.get(model, model)} on {dataset}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    return path


def fig2b(reports: list[dict[str, Any]], path: Path, dataset: str) -> Path | None:
    rows = []
    for m in BACKBONES:
        a = [r for r in reports if r["dataset"] == dataset and r["model"] == m and r["method"] == "lightfmp"]
        s = [r for r in reports if r["dataset"] == dataset and r["model"] == m and r["method"] == "lightfmp-scratch"]
        if a and s:
            auc = 100 * (_mean(a, "auc") - _mean(s, "auc")) / _mean(s, "auc")
            ll = 100 * (_mean(s, "logloss") - _mean(a, "logloss")) / _mean(s, "logloss")
            rows.append((MODEL_LABELS[m], auc, ll))
    if not rows:
        return None
    fig, (ax,) = _figure()
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r[1] for r in rows], 0.4, label="AUC")
    ax.bar(x + 0.2, [r[2] for r in rows], 0.4, label="Logloss")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels([r[0] for r in rows])
    ax.set_ylabel("improvement over fresh init (%)")
    ax.set_title(f"Fig. 2b: domain-adapted initialisation, {dataset}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _series(rs: list[dict[str, Any]], key: str) -> tuple[list[float], dict[str, list[float]]]:
    by: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for r in rs:
        by[float(r[key])].append(r)
    xs = sorted(by)
    return xs, {k: [_mean(by[x], k) for x in xs] for k in ("auc", "logloss", "total_seconds")}


def fig2c(reports: list[dict[str, Any]], path: Path, dataset: str, model: str) -> Path | None:
    rs = [r for r in reports if r["method"] == "lightfmp" and r["dataset"] == dataset and r["model"] == model]
    xs, ys = _series(rs, "prune_ratio")
    if len(xs) < 2:
        return None
    fig, axes = _figure(3, 3.4)
    for ax, k, lab in zip(axes, ("auc", "logloss", "total_seconds"), ("AUC", "Logloss", "TT (s)")):
        ax.plot([100 * x for x in xs], ys[k], marker="o")
        ax.set_xlabel("prune ratio tau (%)")
        ax.set_ylabel(lab)
    axes[0].set_title(f"Fig. 2c: prune ratio, {MODEL_LABELS.get(model, model)} on {dataset}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return path


def fig2d(reports: list[dict[str, Any]], path: Path, dataset: str, model: str, tau: float = 0.5) -> Path | None:
    rs = [r for r in reports if r["method"] == "lightfmp" and r["dataset"] == dataset and r["model"] == model
          and abs(float(r.get("prune_ratio") or 0) - tau) < 1e-9]
    xs, ys = _series(rs, "pretrain_rows")
    if len(xs) < 2:
        return None
    base = [r for r in reports if r["method"] == "none" and r["dataset"] == dataset and r["model"] == model]
    fig, axes = _figure(2, 4.0)
    for ax, k, lab in zip(axes, ("auc", "logloss"), ("AUC", "Logloss")):
        ax.plot(xs, ys[k], marker="o", label="Light-FMP")
        if base:
            ax.axhline(_mean(base, k), linestyle="--", color="gray", label="No Selection")
        ax.set_xscale("log")
        ax.set_xlabel("pretraining rows |D_S|")
        ax.set_ylabel(lab)
        ax.legend(fontsize=7)
    axes[0].set_title(f"Fig. 2d: pretraining size, {dataset}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    return path


def fig3(reports: list[dict[str, Any]], path: Path, dataset: str, model: str) -> Path | None:
    from lightfmp.plots import mask_heatmap_from_reports

    rs = [r for r in reports if r["method"] == "lightfmp" and r["dataset"] == dataset and r["model"] == model
          and r.get("mask")]
    by: dict[float, dict[str, Any]] = {}
    for r in sorted(rs, key=lambda r: r["seed"]):
        by.setdefault(float(r["prune_ratio"]), r)  # one seed per ratio (the lowest)
    if not by:
        return None
    return mask_heatmap_from_reports(list(by.values()), path,
                                     title=f"Fig. 3: Light-FMP mask, {MODEL_LABELS.get(model, model)} on {dataset}")


def draw_all(reports: list[dict[str, Any]], outdir: str | Path, dataset: str | None = None,
             model: str | None = None) -> dict[str, str]:
    """Write every figure whose runs exist into ``outdir``; returns {figure: path}."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    if not reports:
        return {}
    dataset, model = _pick(reports, dataset, model)
    made = {
        "fig2a": fig2a(reports, out / "fig2a_time.png", dataset, model),
        "fig2b": fig2b(reports, out / "fig2b_init_ablation.png", dataset),
        "fig2c": fig2c(reports, out / "fig2c_prune_ratio.png", dataset, model),
        "fig2d": fig2d(reports, out / "fig2d_pretrain_size.png", dataset, model),
        "fig3": fig3(reports, out / "fig3_mask_heatmap.png", dataset, model),
    }
    return {k: str(v) for k, v in made.items() if v is not None}
