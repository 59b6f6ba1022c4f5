"""Every comparison the paper makes, on our runs: a paired difference, its 95% intervals and a verdict.

The comparisons (paper Sec. 4.2-4.3):
- Table 2: Light-FMP against each other method, per data set, on AUC, logloss and TT (each relative
  to No Selection on the same data set and seed), xDeepFM, tau = 0.5 (runs chosen as `tables.table2_data`).
- Table 3: each backbone with against without Light-FMP, per data set, on AUC, logloss and TT (seconds);
  the No Selection partner is the one trained the same way (`grouping.best_match`).
The difference is always Light-FMP's run minus the other (A - B), paired by seed (same data set, split and
seed). The claim's direction is the sign of the same difference in the paper's own table (`paper`); a
comparison the paper's table does not hold (e.g. Table 3 on MovieLens) takes the direction the paper
states for Table 3 ("Light-FMP leads to a substantial improvement ... across all backbone models"):
higher AUC, lower logloss, lower TT.

Intervals (`intervals`): over seeds always; over the test rows by a paired bootstrap where both runs
of every seed left ``test_scores.npy`` in their folder and the test labels can be read (the prepared data
folder named in config.json, ``test_y.npy``); otherwise the comparison says why it has the seed interval
alone. TT has no test-set interval (a time is not a test-set quantity).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lightfmp.report.grouping import method_of, split_rows
from lightfmp.report.intervals import CANNOT_TELL, Interval, TestSetBootstrap, seed_interval, verdict
from lightfmp.report.paper import paper_t2, paper_t3
from lightfmp.report.tables import (LABELS, MODEL_LABELS, ORDER, _at_tau, _base_of, _nones, _whole_split,
                                    backbone_pairs, backbone_split)

HIGHER_BETTER = {"auc": True, "logloss": False, "tt": False}
METRIC_LABELS = {"auc": "AUC", "logloss": "Logloss", "tt": "TT"}
SCORES_FILE = "test_scores.npy"


@dataclass
class Comparison:
    """One paired comparison: A (Light-FMP's run) minus B, with its intervals and verdict."""

    table: str  # "table2" or "table3"
    dataset: str
    backbone: str
    a: str  # row labels
    b: str
    metric: str
    seeds: list[Any]
    mean_a: float
    mean_b: float
    by_seeds: Interval
    by_rows: Interval | None
    claimed: int  # sign of A - B that the paper claims (0: no direction)
    paper: tuple[float, float] | None  # the paper's (A, B), where its table holds them
    verdict: str = CANNOT_TELL
    note: str = ""
    runs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def iv(i: Interval | None) -> dict[str, Any] | None:
            return None if i is None else {"estimate": i.estimate, "low": i.low, "high": i.high, "n": i.n}

        return {"table": self.table, "dataset": self.dataset, "backbone": self.backbone, "a": self.a, "b": self.b,
                "metric": self.metric, "seeds": self.seeds, "mean_a": self.mean_a, "mean_b": self.mean_b,
                "diff": self.by_seeds.estimate, "seed_interval": iv(self.by_seeds),
                "test_interval": iv(self.by_rows), "claimed": self.claimed, "paper": self.paper,
                "verdict": self.verdict, "note": self.note, "runs": self.runs}


class _Scores:
    """Test labels per prepared data folder, test scores per run folder, and one bootstrap per test split."""

    def __init__(self, n_boot: int, seed: int):
        self.n_boot, self.seed = n_boot, seed
        self._labels: dict[str, np.ndarray | None] = {}
        self._boot: dict[bytes, TestSetBootstrap] = {}

    def labels(self, r: dict[str, Any]) -> np.ndarray | None:
        cfg = r.get("_config") or {}
        folder = (cfg.get("data") or {}).get("dir") if isinstance(cfg.get("data"), dict) else None
        if not folder:
            return None
        if folder not in self._labels:
            f = Path(folder) / "test_y.npy"
            try:
                self._labels[folder] = np.load(f) if f.is_file() else None
            except (OSError, ValueError):
                self._labels[folder] = None
        return self._labels[folder]

    @staticmethod
    def scores(r: dict[str, Any]) -> np.ndarray | None:
        f = Path(r.get("_path", "")) / SCORES_FILE
        if not f.is_file():
            return None
        try:
            return np.load(f)
        except (OSError, ValueError):
            return None

    def bootstrap(self, y: np.ndarray) -> TestSetBootstrap:
        key = np.ascontiguousarray(y).tobytes()
        if key not in self._boot:
            self._boot[key] = TestSetBootstrap(y, self.n_boot, self.seed)
        return self._boot[key]


def _metric(r: dict[str, Any], metric: str, base: dict[str, Any] | None = None) -> float | None:
    if metric == "tt":
        if base is None:
            return r.get("total_seconds")
        return r["total_seconds"] / base["total_seconds"] if base.get("total_seconds") else None
    return r.get(metric)


def _row_interval(pairs: list[tuple[dict[str, Any], dict[str, Any]]], metric: str, scores: _Scores,
                  estimate: float) -> tuple[Interval | None, str]:
    """The paired test-set bootstrap over all seeds' pairs, or None and why not."""
    if metric == "tt":
        return None, ""
    if scores.n_boot <= 0:
        return None, "seed interval only: no bootstrap asked for"
    ys = [scores.labels(r) for p in pairs for r in p]
    if any(y is None for y in ys):
        return None, "seed interval only: the test labels (the prepared data folder's test_y.npy) cannot be read"
    if any(not np.array_equal(ys[0], y) for y in ys[1:]):
        return None, "seed interval only: the runs were not scored on the same test rows"
    a_s, b_s = [], []
    for ra, rb in pairs:
        sa, sb = scores.scores(ra), scores.scores(rb)
        if sa is None or sb is None:
            return None, f"seed interval only: a run folder lacks {SCORES_FILE}"
        if sa.size != ys[0].size or sb.size != ys[0].size:
            return None, f"seed interval only: {SCORES_FILE} and the test labels differ in length"
        boot = scores.bootstrap(ys[0])
        a_s.append(boot.draws(ra["_path"], sa, metric))
        b_s.append(boot.draws(rb["_path"], sb, metric))
    return TestSetBootstrap.interval(a_s, b_s, estimate), ""


def _compare(table: str, dataset: str, backbone: str, a_label: str, b_label: str, metric: str,
             pairs: list[tuple[dict[str, Any], dict[str, Any], float | None, float | None]], claimed: int,
             paper: tuple[float, float] | None, scores: _Scores) -> Comparison | None:
    """pairs: (run A, run B, A's value, B's value) per seed."""
    pairs = [p for p in pairs if p[2] is not None and p[3] is not None
             and math.isfinite(p[2]) and math.isfinite(p[3])]
    if not pairs:
        return None
    by_seeds = seed_interval([va - vb for _, _, va, vb in pairs])
    by_rows, note = _row_interval([(ra, rb) for ra, rb, _, _ in pairs], metric, scores, by_seeds.estimate)
    if len(pairs) < 2:
        note = "; ".join(x for x in ("one seed: no interval over seeds", note) if x)
    c = Comparison(table, dataset, backbone, a_label, b_label, metric, [p[0]["seed"] for p in pairs],
                   float(np.mean([p[2] for p in pairs])), float(np.mean([p[3] for p in pairs])), by_seeds, by_rows,
                   claimed, paper, note=note, runs=[x for p in pairs for x in (p[0].get("_path"), p[1].get("_path"))
                                                    if x])
    c.verdict = verdict([i for i in (by_seeds, by_rows) if i is not None], claimed)
    return c


def _sign(x: float) -> int:
    return 1 if x > 0 else (-1 if x < 0 else 0)


def _by_seed(runs: Sequence[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {r["seed"]: r for r in sorted(runs, key=lambda r: str(r.get("_path", "")))}  # a repeated seed: the last


def table2_comparisons(reports: list[dict[str, Any]], model: str = "xdeepfm", tau: float = 0.5,
                       scores: _Scores | None = None) -> list[Comparison]:
    """Light-FMP against every other method of Table 2, per data set and metric."""
    scores = scores or _Scores(1000, 0)
    runs = [r for r in _whole_split(reports) if r["model"] == model and method_of(r) != "lightfmp-scratch"]
    runs = [r for r in runs if method_of(r) in ("none", "mvfs") or _at_tau(r, tau)]
    nones = _nones(runs)
    split = split_rows(runs, lambda r: r["dataset"], ORDER)
    labels = {k: split.label(k, LABELS) for k in split.rows}
    lf_keys = [k for k in split.rows if split.method[k] == "lightfmp"]
    out: list[Comparison] = []
    for d in sorted({r["dataset"] for r in runs}):
        for lk in lf_keys:
            lf = _by_seed(split.rows[lk].get(d, []))
            for k in split.rows:
                if k == lk or split.method[k] == "lightfmp":
                    continue
                other = _by_seed(split.rows[k].get(d, []))
                seeds = sorted(set(lf) & set(other), key=str)
                for metric in ("auc", "logloss", "tt"):
                    pairs = []
                    for s in seeds:
                        ra, rb = lf[s], other[s]
                        ba, bb = (_base_of(ra, nones), _base_of(rb, nones)) if metric == "tt" else (None, None)
                        if metric == "tt" and (ba is None or bb is None):
                            continue
                        pairs.append((ra, rb, _metric(ra, metric, ba), _metric(rb, metric, bb)))
                    pa, pb = paper_t2(d, "lightfmp", metric), paper_t2(d, split.method[k], metric)
                    paper = (pa, pb) if pa is not None and pb is not None else None
                    claimed = _sign(pa - pb) if paper else 0
                    c = _compare("table2", d, model, labels[lk], labels[k], metric, pairs, claimed, paper, scores)
                    if c is not None:
                        if not paper:
                            c.note = "; ".join(x for x in ("the paper's Table 2 has no such column", c.note) if x)
                        out.append(c)
    return out


def table3_comparisons(reports: list[dict[str, Any]], tau: float = 0.5,
                       scores: _Scores | None = None) -> list[Comparison]:
    """Each backbone with against without Light-FMP, per data set and metric."""
    scores = scores or _Scores(1000, 0)
    out: list[Comparison] = []
    for d in sorted({r["dataset"] for r in reports}):
        split = backbone_split(reports, d, tau)
        for m, k, n, _ in backbone_pairs(split):
            lf, base = _by_seed(split.rows[k][m]), _by_seed(split.rows[n][m])
            seeds = sorted(set(lf) & set(base), key=str)
            name = MODEL_LABELS.get(m, m)
            for metric in ("auc", "logloss", "tt"):
                pairs = [(lf[s], base[s], _metric(lf[s], metric), _metric(base[s], metric)) for s in seeds]
                p = paper_t3(d, m, metric)
                paper = (p[1], p[0]) if p else None
                claimed = _sign(p[1] - p[0]) if p else (1 if HIGHER_BETTER[metric] else -1)
                c = _compare("table3", d, m, f"{name} + Light-FMP", name, metric, pairs, claimed, paper, scores)
                if c is not None:
                    if not p:
                        c.note = "; ".join(x for x in ("direction: the paper's Table 3 text (better on every "
                                                       "backbone); its table has Criteo only", c.note) if x)
                    out.append(c)
    return out


def all_comparisons(reports: list[dict[str, Any]], model: str = "xdeepfm", tau: float = 0.5, n_boot: int = 1000,
                    seed: int = 0) -> list[Comparison]:
    """Table 2's and Table 3's comparisons, sharing one bootstrap per test split."""
    scores = _Scores(n_boot, seed)
    return table2_comparisons(reports, model, tau, scores) + table3_comparisons(reports, tau, scores)


def _num(x: float, digits: int) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:+.{digits}f}"


def interval_text(i: Interval | None, digits: int = 4) -> str:
    if i is None or not i.defined:
        return "-"
    return f"[{_num(i.low, digits)}, {_num(i.high, digits)}]"


def claim_text(c: Comparison) -> str:
    """What the paper says, in words: e.g. 'Light-FMP higher' (AUC), 'Light-FMP faster' (TT)."""
    if c.claimed == 0:
        return "no direction"
    better = (c.claimed > 0) == HIGHER_BETTER[c.metric]
    word = {"auc": ("higher", "lower"), "logloss": ("lower", "higher"), "tt": ("faster", "slower")}[c.metric]
    return f"Light-FMP {word[0] if better else word[1]}"


def format_comparisons(comps: Sequence[Comparison]) -> str:
    """Markdown: one row per comparison with both intervals and the verdict."""
    lines = ["| table | data set | A | B | metric | mean A | mean B | A − B | 95% over seeds | 95% over test rows "
             "| n | paper (A / B) | paper claims | verdict |", "|---" * 14 + "|"]
    for c in comps:
        digits = 3 if c.metric == "tt" else 4
        paper = "-" if not c.paper else " / ".join(f"{v:,.0f} s" if v >= 100 else f"{v:.{digits}g}" for v in c.paper)
        lines.append(f"| {c.table} | {c.dataset} | {c.a} | {c.b} | {METRIC_LABELS[c.metric]} | "
                     f"{c.mean_a:.{digits}f} | {c.mean_b:.{digits}f} | {_num(c.by_seeds.estimate, digits)} | "
                     f"{interval_text(c.by_seeds, digits)} | {interval_text(c.by_rows, digits)} | {len(c.seeds)} | "
                     f"{paper} | {claim_text(c)} | {c.verdict} |")
    return "\n".join(lines)


def verdict_counts(comps: Sequence[Comparison]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in comps:
        out[c.verdict] = out.get(c.verdict, 0) + 1
    return out


def comparisons_json(comps: Sequence[Comparison]) -> str:
    from lightfmp.runs.folder import json_safe

    return json.dumps(json_safe([c.to_dict() for c in comps]), indent=1, allow_nan=False)


def comparisons_markdown(comps: Sequence[Comparison], n_boot: int) -> str:
    """The verdict section: how each verdict is decided, the counts, and one table per paper table."""
    counts = verdict_counts(comps)
    no_rows = sum(1 for c in comps if c.metric != "tt" and c.by_rows is None)
    lines = ["Every comparison the paper makes, on these runs: A (with Light-FMP) minus B, paired by seed (same "
             "data set, split and seed). Two 95% intervals: over seeds (Student t on the per-seed differences; "
             "training noise) and over the test rows (paired bootstrap, "
             f"{n_boot} replicates, the same resampled rows for A, B and every seed; test-split noise). The "
             "verdict is decided by the intervals, not by the point estimate: **agrees** when every interval "
             "lies on the side of zero the paper's own numbers give, **disagrees** when every interval lies on "
             "the other side, **cannot tell** otherwise (an interval holding zero, the two intervals on "
             "different sides, or one seed and no test-set interval). TT has the seed interval only.", "",
             "Verdicts: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("agrees", "disagrees", "cannot tell"))
             + f" (of {len(comps)})."
             + (f" {no_rows} AUC/logloss comparison(s) have no test-set interval (see their notes)." if no_rows
                else ""), ""]
    for table, title in (("table2", "Table 2: Light-FMP against each method"),
                         ("table3", "Table 3: each backbone with against without Light-FMP")):
        sub = [c for c in comps if c.table == table]
        if not sub:
            continue
        lines += [f"### {title}", "", format_comparisons(sub), ""]
        notes = sorted({c.note for c in sub if c.note})
        if notes:
            lines += ["Notes: " + " | ".join(notes), ""]
    return "\n".join(lines)
