"""One-hot encoding of local field ids as a sparse matrix (the shallow methods' design matrix).

Column ``offsets[f] + id`` is 1 when field f takes local id ``id``; every row has exactly F ones.
Built in one vectorised call (no Python loop over rows), as CSR float32.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def field_offsets(vocab_sizes: list[int]) -> np.ndarray:
    """Start column of each field: the cumulative vocabulary sizes."""
    return np.concatenate([[0], np.cumsum(vocab_sizes)[:-1]]).astype(np.int64)


def one_hot(X: np.ndarray, vocab_sizes: list[int]) -> sp.csr_matrix:
    """int[N, F] local ids -> CSR float32 [N, sum(vocab_sizes)]."""
    X = np.asarray(X)
    n, f = X.shape
    if f != len(vocab_sizes):
        raise ValueError(f"X has {f} columns, schema has {len(vocab_sizes)} fields")
    cols = (X.astype(np.int64) + field_offsets(vocab_sizes)[None, :]).reshape(-1)
    indptr = np.arange(0, n * f + 1, f, dtype=np.int64)
    data = np.ones(n * f, dtype=np.float32)
    return sp.csr_matrix((data, cols, indptr), shape=(n, int(sum(vocab_sizes))))


def per_field_sum(values: np.ndarray, vocab_sizes: list[int]) -> np.ndarray:
    """Sum a per-column vector [sum(vocab_sizes)] within each field -> float64 [F]."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    owner = np.repeat(np.arange(len(vocab_sizes)), vocab_sizes)
    return np.bincount(owner, weights=values, minlength=len(vocab_sizes))
