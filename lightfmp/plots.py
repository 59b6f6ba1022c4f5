"""PNG figures of Light-FMP results: the mask heatmap across prune ratios (paper Figure 3).

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly (no pyplot, no global state, no
display), so it is safe inside a CLI, a test or a worker process.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np


def normalise_scores(scores: Sequence[float]) -> np.ndarray:
    """Min-max normalise one row of mask scores to [0, 1] (a constant row becomes all ones)."""
    s = np.asarray(scores, dtype=np.float64)
    lo, hi = float(s.min()), float(s.max())
    return np.ones_like(s) if hi - lo < 1e-12 else (s - lo) / (hi - lo)


def plot_mask_heatmap(
    field_names: Sequence[str],
    ratios: Sequence[float],
    scores: Sequence[Sequence[float]],
    kept: Sequence[Sequence[bool]],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Write the paper's Figure 3: fields (columns) x prune ratios (rows) to a PNG at ``path``.

    Args:
        field_names: the m field names, in schema order.
        ratios: the prune ratios tau, one per row (e.g. 0, 0.25, 0.5, 0.75).
        scores: [len(ratios), m] learned mask scores per ratio (e.g. P(z > 0) after pretraining);
            each row is min-max normalised, darker = more important, as in the paper.
        kept: [len(ratios), m] booleans; kept fields are marked by a blue square, as the paper
            colours retained features blue.
        path: output PNG; parent folders are created.

    Returns the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(field_names)
    values = np.stack([normalise_scores(r) for r in scores]) if len(scores) else np.zeros((0, len(names)))
    keep = np.asarray(kept, dtype=bool)
    if values.shape != (len(ratios), len(names)) or keep.shape != values.shape:
        raise ValueError(f"scores and kept must be [{len(ratios)}, {len(names)}], "
                         f"got {values.shape} and {keep.shape}")
    fig = Figure(figsize=(max(6.0, 0.28 * len(names) + 2.0), 0.55 * len(ratios) + 1.8), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(values, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    rows, cols = np.nonzero(keep)
    ax.scatter(cols, rows, marker="s", s=22, facecolors="none", edgecolors="tab:blue", linewidths=1.4,
               label="kept")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(ratios)))
    ax.set_yticklabels([f"{100 * float(r):g}%" for r in ratios])
    ax.set_ylabel("prune ratio")
    ax.set_title(title or "Light-FMP mask after pretraining (darker = more important)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01, label="normalised mask")
    if len(rows):
        ax.legend(loc="upper right", bbox_to_anchor=(1.0, 1.18), fontsize=7, frameon=False)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def mask_heatmap_from_reports(reports: Sequence[Mapping[str, Any]], path: str | Path,
                              title: str | None = None) -> Path:
    """The heatmap from Light-FMP report.json dicts (keys ``mask``, ``fields_kept``, ``prune_ratio``).

    Rows are sorted by prune ratio; the field order is the first report's ``mask`` order, and every
    report must score the same fields.
    """
    reps = sorted((r for r in reports if r.get("mask")), key=lambda r: float(r["prune_ratio"]))
    if not reps:
        raise ValueError("no report with a 'mask' to plot")
    names = list(reps[0]["mask"])
    for r in reps:
        if sorted(r["mask"]) != sorted(names):
            raise ValueError("reports score different fields; plot one data set at a time")
    scores = [[float(r["mask"][n]) for n in names] for r in reps]
    kept = [[n in set(r["fields_kept"]) for n in names] for r in reps]
    return plot_mask_heatmap(names, [float(r["prune_ratio"]) for r in reps], scores, kept, path, title)
