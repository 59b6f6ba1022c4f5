"""95% intervals for paired differences between two methods, and the verdict an interval supports.

Two sources of noise, two intervals (each answers a different "would it hold again?"):
- over seeds: the per-seed differences d_k = metric(A, seed k) - metric(B, seed k) (same data, same split,
  same seed), a Student t interval mean(d) +- t_{n-1, 0.975} sd(d) / sqrt(n). It covers training noise
  (initialisation, batch order) and nothing else; one seed gives no interval.
- over the test set: a paired bootstrap of the test rows. Each replicate draws n rows with replacement
  (the same rows for A and B and for every seed), recomputes both metrics on them, and takes the mean
  over seeds of the paired difference; the interval is the 2.5 and 97.5 percentiles of the replicates.
  It covers the finite test split (about 0.02 of AUC on an 800-row split) with training held fixed.

A replicate's rows are given as counts w_i (how often row i was drawn), so a metric on a replicate is
a weighted metric on the original rows: AUC is the weighted Mann-Whitney statistic (ties count one
half, as `lightfmp.metrics.auc`), log loss the weighted mean. Every run's metric is computed once for
all replicates (`TestSetBootstrap.draws`), so a comparison costs two array subtractions; the counts are
drawn once per test split and kept as uint8 (1,000 replicates of a 10,000-row split: 10 MB).

Verdict: the claim has a direction (e.g. "Light-FMP's AUC is higher"). An interval that lies wholly on
the claimed side supports it, wholly on the other side contradicts it, and one that holds zero cannot
tell. With both intervals, each must say the same for a verdict other than "cannot tell" (the stricter
reading: a gap that the test split's noise could erase is not a finding, and neither is one the seeds
could erase).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from lightfmp.metrics import LOGLOSS_EPS

LEVEL = 0.95
AGREES, DISAGREES, CANNOT_TELL = "agrees", "disagrees", "cannot tell"


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval; ``low``/``high`` are NaN where none can be given (one seed)."""

    estimate: float
    low: float
    high: float
    n: int
    how: str  # "seeds" (t over seeds) or "test rows" (paired bootstrap)

    @property
    def defined(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def side(self) -> int:
        """+1 if the interval lies above zero, -1 below, 0 if it holds zero or is undefined."""
        if not self.defined:
            return 0
        return 1 if self.low > 0 else (-1 if self.high < 0 else 0)


def seed_interval(diffs: Sequence[float], level: float = LEVEL) -> Interval:
    """Student t interval of the mean of per-seed paired differences (NaN bounds for fewer than 2)."""
    from scipy.stats import t

    d = np.asarray([x for x in diffs if x is not None and math.isfinite(x)], dtype=np.float64)
    if d.size == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "seeds")
    mean = float(d.mean())
    if d.size < 2:
        return Interval(mean, math.nan, math.nan, 1, "seeds")
    half = float(t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return Interval(mean, mean - half, mean + half, int(d.size), "seeds")


def weighted_auc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of ``scores`` under each row of ``weights`` [B, n] (row counts of a replicate); shape [B].
    Ties between a positive and a negative count one half, as in `lightfmp.metrics.auc`."""
    pos = np.asarray(y).reshape(-1) > 0.5
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    first = np.empty(s.size, dtype=bool)
    first[0] = True
    np.not_equal(s_sorted[1:], s_sorted[:-1], out=first[1:])
    starts = np.flatnonzero(first)  # one group per distinct score, ascending
    w = np.asarray(weights)[:, order].astype(np.float32)  # counts: exact in float32, half the traffic
    p = pos[order]
    ties = starts.size < s.size
    wp = np.add.reduceat(w * p, starts, axis=1, dtype=np.float64) if ties else (w * p).astype(np.float64)
    wn = np.add.reduceat(w * ~p, starts, axis=1, dtype=np.float64) if ties else (w * ~p).astype(np.float64)
    below = np.cumsum(wn, axis=1) - wn  # negative weight strictly below each group
    num = (wp * (below + 0.5 * wn)).sum(axis=1)
    den = wp.sum(axis=1) * wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def weighted_logloss(y: np.ndarray, probs: np.ndarray, weights: np.ndarray, eps: float = LOGLOSS_EPS) -> np.ndarray:
    """Log loss of ``probs`` under each row of ``weights`` [B, n]; shape [B]."""
    t = np.asarray(y, dtype=np.float64).reshape(-1)
    p = np.clip(np.asarray(probs, dtype=np.float64).reshape(-1), eps, 1 - eps)
    per_row = -(t * np.log(p) + (1 - t) * np.log1p(-p))
    w = np.asarray(weights, dtype=np.float64)
    return (w @ per_row) / w.sum(axis=1)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "auc": weighted_auc, "logloss": weighted_logloss}


class TestSetBootstrap:
    """Paired bootstrap replicates of one test split: the same draws for every run scored on it.

    ``draws(key, scores, metric)`` is the metric on every replicate ([B]), computed once per run and
    metric; ``interval(a, b)`` turns per-seed lists of such arrays into the interval of the mean over
    seeds of (A - B)."""

    __test__ = False  # not a pytest class, despite the name

    def __init__(self, y: np.ndarray, n_boot: int = 1000, seed: int = 0, chunk: int = 100):
        self.y = np.asarray(y).reshape(-1)
        self.n_boot, self.seed, self.chunk = int(n_boot), int(seed), int(chunk)
        self._memo: dict[tuple[str, str], np.ndarray] = {}
        self._counts: list[np.ndarray] | None = None

    def _weights(self) -> list[np.ndarray]:
        """Row counts of every replicate, in chunks of ``chunk`` replicates ([chunk, n] uint8 each): one
        draw of chunk x n row indices and one offset bincount per chunk."""
        if self._counts is None:
            n, rng = self.y.size, np.random.default_rng(self.seed)
            self._counts = []
            for first in range(0, self.n_boot, self.chunk):
                k = min(self.chunk, self.n_boot - first)
                idx = rng.integers(0, n, (k, n)) + (np.arange(k) * n)[:, None]
                counts = np.bincount(idx.ravel(), minlength=k * n).reshape(k, n)
                self._counts.append(np.minimum(counts, 255).astype(np.uint8))  # P(count > 255) is nil
        return self._counts

    def draws(self, key: str, scores: np.ndarray, metric: str) -> np.ndarray:
        memo = self._memo.get((key, metric))
        if memo is not None:
            return memo
        s = np.asarray(scores).reshape(-1)
        if s.size != self.y.size:
            raise ValueError(f"{key}: {s.size} test scores for {self.y.size} test labels")
        fn = METRICS[metric]
        parts = [fn(self.y, s, w) for w in self._weights()]
        out = np.concatenate(parts)
        self._memo[(key, metric)] = out
        return out

    @staticmethod
    def interval(a: Sequence[np.ndarray], b: Sequence[np.ndarray], estimate: float,
                 level: float = LEVEL) -> Interval:
        """Percentile interval of mean_k(A_k - B_k) over the replicates (A_k, B_k: seed k's draws)."""
        diff = np.mean([x - y for x, y in zip(a, b)], axis=0)
        diff = diff[np.isfinite(diff)]
        if diff.size == 0:
            return Interval(estimate, math.nan, math.nan, len(a), "test rows")
        lo, hi = np.quantile(diff, [0.5 - level / 2, 0.5 + level / 2])
        return Interval(estimate, float(lo), float(hi), len(a), "test rows")


def verdict(intervals: Sequence[Interval], claimed: int) -> str:
    """'agrees' / 'disagrees' with a claim whose difference has sign ``claimed`` (+1 or -1) when every
    given interval lies on that side / the other side of zero; otherwise 'cannot tell' (also when no
    interval is defined or the claim has no direction)."""
    sides = [i.side() for i in intervals if i.defined]
    if not sides or claimed == 0:
        return CANNOT_TELL
    if all(s == claimed for s in sides):
        return AGREES
    if all(s == -claimed for s in sides):
        return DISAGREES
    return CANNOT_TELL
