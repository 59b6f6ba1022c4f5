"""Numeric bucketing: the Criteo-winning rule that OptFS (and so the paper's code base) applies.

``bucket(x) = floor(ln(x)^2)`` for ``x > 2``, ``int(x)`` (truncation toward zero, like Python's
``int``) otherwise; a missing value stays missing and gets its own id later. Values are clipped to
the int64 range so that absurd inputs cannot overflow.
"""
from __future__ import annotations

import numpy as np

_LIMIT = float(2**62)


def log2_bucket(x: np.ndarray) -> np.ndarray:
    """Bucket float64 values (NaN allowed, returned as 0 and to be masked by the caller) to int64."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=_LIMIT, neginf=-_LIMIT)
    big = x > 2
    out = np.trunc(np.clip(x, -_LIMIT, _LIMIT))
    with np.errstate(divide="ignore", invalid="ignore"):
        logged = np.floor(np.log(np.where(big, x, 3.0)) ** 2)
    return np.where(big, logged, out).astype(np.int64)
