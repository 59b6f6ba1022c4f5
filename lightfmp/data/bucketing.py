"""Numeric bucketing: the Criteo-winning rule that OptFS (and so the paper's code base) applies.

``bucket(x) = floor(ln(x)^2)`` for ``x > 2``, ``int(x)`` (truncation toward zero, like Python's
``int``) otherwise; a missing value stays missing and gets its own id later. Values are clipped to
the int64 range so that absurd inputs cannot overflow.
"""
from __future__ import annotations

import numpy as np

_LIMIT = float(2**62)


def log2_bucket(x: np.ndarray) -> np.ndarray:
    """Bucket float64 values to int64 (NaN gives an arbitrary value the caller masks as missing)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.clip(x, -_LIMIT, _LIMIT).astype(np.int64)  # truncation toward zero, like int()
        big = np.flatnonzero(x > 2)  # the log only where it applies
        out[big] = np.floor(np.log(np.minimum(x[big], _LIMIT)) ** 2)
    return out
