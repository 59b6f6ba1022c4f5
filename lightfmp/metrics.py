"""Test metrics: ROC AUC and log loss, vectorised numpy, checked against scikit-learn in tests.

AUC is the Mann-Whitney statistic with average ranks for ties (exactly sklearn's roc_auc_score):
one argsort, no Python loop over rows. Log loss clips probabilities to [eps, 1-eps] (eps 1e-7, the
float32 resolution near 1) so a confident wrong prediction costs a large but finite amount.
"""
from __future__ import annotations

import numpy as np

LOGLOSS_EPS = 1e-7


def auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of `scores` for binary labels `y_true` (> 0.5 is positive); NaN if only one class is present.

    NaN rather than an exception because a tiny validation split can hold one class; callers decide.
    """
    y = np.asarray(y_true).reshape(-1) > 0.5
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} vs {s.shape[0]}")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    first = np.empty(s.size, dtype=bool)
    first[0] = True
    np.not_equal(s_sorted[1:], s_sorted[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], s.size)
    avg_rank = (starts + ends + 1) / 2.0          # mean of 1-based ranks start+1 .. end
    ranks = avg_rank[np.cumsum(first) - 1]
    rank_sum = ranks[y[order]].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def logloss(y_true: np.ndarray, probs: np.ndarray, eps: float = LOGLOSS_EPS) -> float:
    """Mean binary cross-entropy of probabilities, clipped to [eps, 1 - eps]."""
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.clip(np.asarray(probs, dtype=np.float64).reshape(-1), eps, 1.0 - eps)
    if y.shape != p.shape:
        raise ValueError(f"labels and probabilities differ in length: {y.shape[0]} vs {p.shape[0]}")
    if y.size == 0:
        return float("nan")
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function in float64."""
    z = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out
