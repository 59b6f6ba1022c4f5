"""The seeded, label-stratified train/validation/test split and the pretraining subset D_S.

Choices: each label class is permuted with ``numpy.random.default_rng(seed)`` (class 0 first) and
cut at ``round(0.8 n_c)`` and ``round(0.9 n_c)``, so each split's positive rate equals the whole
file's up to one row per class; a class of 3 to 7 rows, which rounding would leave out of valid or
test, gets one row in each (larger classes are cut by the rounding alone). Rows keep their file order
inside each split (training shuffles anyway, and order-preserving positions let the encoder write
contiguous slices). D_S is a uniform sample without replacement of ``pretrain_size`` train
positions, drawn with seed ``(seed, 1)`` and stored sorted.
"""
from __future__ import annotations

import numpy as np

from lightfmp.errors import InputError

SPLITS = ("train", "valid", "test")
RATIOS = (0.8, 0.1, 0.1)


def stratified_split(y: np.ndarray, seed: int, ratios: tuple[float, float, float] = RATIOS) -> np.ndarray:
    """Split code per row: 0 = train, 1 = valid, 2 = test."""
    rng = np.random.default_rng(seed)
    code = np.empty(len(y), dtype=np.int8)
    cut1, cut2 = ratios[0], ratios[0] + ratios[1]
    for c in (0.0, 1.0):
        idx = rng.permutation(np.flatnonzero(y == c))
        n = len(idx)
        a, b = int(round(cut1 * n)), int(round(cut2 * n))
        if n >= 3:  # every split gets a row of the class (changes nothing from 8 rows on)
            b = min(b, n - 1)
            a = min(a, b - 1)
        code[idx[:a]], code[idx[a:b]], code[idx[b:]] = 0, 1, 2
    return code


DEFAULT_PRETRAIN_SIZE = 2000  # the paper's |D_S|


def default_pretrain_size(n_train: int) -> int:
    """|D_S| when none is given: the paper's 2,000, or half the training rows when there are fewer than
    4,000 (so small data still prepares, and Light-FMP keeps half the rows to continue on)."""
    return max(1, min(DEFAULT_PRETRAIN_SIZE, n_train // 2))


def draw_pretrain(n_train: int, size: int | None, seed: int) -> np.ndarray:
    """Sorted int64 positions of D_S inside train (``size`` None: `default_pretrain_size`)."""
    size = default_pretrain_size(n_train) if size is None else size
    if size < 1 or size > n_train:
        raise InputError(
            f"--pretrain-size must be between 1 and the training split's {n_train} rows, got {size}"
        )
    rng = np.random.default_rng((seed, 1))
    return np.sort(rng.choice(n_train, size=size, replace=False)).astype(np.int64)
