"""`Rows`: the rows a training phase reads, described rather than copied.

A prepared split is a memory-mapped int32 matrix. Continued training reads train minus D_S, and
after pruning only the kept columns: at the paper's scale (45M rows x 39 fields = 7 GB) copying that
view up front would double the memory, so `Rows` names the array, the columns to read and the rows
to leave out, and `take(lo, hi)` materialises one contiguous slice at a time (a sequential read of
the memory map, then the column and row selection on that slice only). `load()` is the whole view,
for sets small enough to hold in memory (the fast in-memory batch path, `DeviceBatches`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class Rows:
    """Rows of a split: ids ``X`` [N, F] (ndarray or memmap), labels ``y`` [N].

    Args:
        columns: field positions to read, in this order (None: all).
        exclude: sorted positions in ``X`` left out (e.g. D_S inside train), or None.
    """

    X: Any
    y: Any
    columns: tuple[int, ...] | None = None
    exclude: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.X.ndim != 2:
            raise ValueError(f"expected ids of shape [N, F], got {tuple(self.X.shape)}")
        if len(self.y) != self.X.shape[0]:
            raise ValueError(f"ids and labels differ in rows: {self.X.shape[0]} vs {len(self.y)}")
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(int(c) for c in self.columns))
        if self.exclude is not None:
            object.__setattr__(self, "exclude", np.unique(np.asarray(self.exclude, dtype=np.int64)))

    @classmethod
    def of(cls, split: "Rows | tuple[Any, Any]") -> "Rows":
        """A Rows from a Rows or an (X, y) pair."""
        return split if isinstance(split, Rows) else cls(split[0], split[1])

    @property
    def span(self) -> int:
        """Rows of the underlying array (exclusions included): positions run over [0, span)."""
        return int(self.X.shape[0])

    @property
    def num_fields(self) -> int:
        return len(self.columns) if self.columns is not None else int(self.X.shape[1])

    def count(self, lo: int = 0, hi: int | None = None) -> int:
        """Rows of positions [lo, hi) that are not excluded."""
        hi = self.span if hi is None else hi
        if self.exclude is None:
            return hi - lo
        left, right = np.searchsorted(self.exclude, [lo, hi])
        return (hi - lo) - int(right - left)

    def __len__(self) -> int:
        return self.count()

    @property
    def nbytes(self) -> int:
        """Bytes of the int32 ids `load()` would hold."""
        return len(self) * self.num_fields * 4

    def take(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids int32 [n, k], labels float32 [n]) of positions [lo, hi), exclusions dropped."""
        X = np.asarray(self.X[lo:hi])
        y = np.asarray(self.y[lo:hi], dtype=np.float32)
        if self.exclude is not None:
            left, right = np.searchsorted(self.exclude, [lo, hi])
            if right > left:
                keep = np.ones(hi - lo, dtype=bool)
                keep[self.exclude[left:right] - lo] = False
                X, y = X[keep], y[keep]
        if self.columns is not None:
            X = X[:, list(self.columns)]
        # owned, writable arrays: a bare memmap slice is read-only, which torch.from_numpy warns about
        return np.require(X, np.int32, ["C", "W"]), np.require(y, np.float32, ["C", "W"])

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole view in memory."""
        return self.take(0, self.span)

    def shard(self, rank: int, world: int) -> tuple[int, int]:
        """Positions [lo, hi) of rank ``rank``'s contiguous shard out of ``world``."""
        return rank * self.span // world, (rank + 1) * self.span // world
