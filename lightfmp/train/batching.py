"""Mini-batches straight from device-resident tensors: no DataLoader, no per-row Python.

A split is copied to the training device once, as int32 ids (half the bytes of int64; the embedding
adds its int64 offsets in the same kernel) and float32 labels. Each epoch draws one
`torch.randperm` from a seeded CPU generator (so CPU and CUDA runs see the same order) and yields
`index_select` gathers of consecutive slices of it. DeepCTR-Torch's TensorDataset/DataLoader path
alone tops out near 100k samples/s (../shared/docs/performance.md); a gather of 4096 x 39 int32 ids
costs microseconds.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import Tensor


def to_tensors(X: np.ndarray | Tensor, y: np.ndarray | Tensor | None, device: str) -> tuple[Tensor, Tensor | None]:
    """One copy of a split onto `device`: ids int32 [N, F], labels float32 [N] (or None)."""
    if isinstance(X, Tensor):
        xt = X.to(device=device, dtype=torch.int32)
    else:
        # np.array copies a read-only memmap into writable memory that torch may own.
        xt = torch.from_numpy(np.array(X, dtype=np.int32, copy=True)).to(device)
    if xt.dim() != 2:
        raise ValueError(f"expected ids of shape [N, F], got {tuple(xt.shape)}")
    if y is None:
        return xt, None
    if isinstance(y, Tensor):
        yt = y.to(device=device, dtype=torch.float32).reshape(-1)
    else:
        yt = torch.from_numpy(np.array(y, dtype=np.float32, copy=True).reshape(-1)).to(device)
    if yt.shape[0] != xt.shape[0]:
        raise ValueError(f"ids and labels differ in rows: {xt.shape[0]} vs {yt.shape[0]}")
    return xt, yt


class DeviceBatches:
    """Shuffled mini-batches of a split held on the device.

    Args:
        X: ids [N, F] (numpy, memmap or tensor). y: labels [N].
        batch_size: rows per batch; the last batch holds the remainder (never dropped, so every
            row is trained on each epoch).
        device: where the tensors live.
        seed: seeds the shuffle generator; epoch k of two instances with one seed is identical.
        shuffle: False yields the rows in order (evaluation).
    """

    def __init__(self, X: np.ndarray | Tensor, y: np.ndarray | Tensor, batch_size: int, device: str = "cpu",
                 seed: int = 0, shuffle: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.X, self.y = to_tensors(X, y, device)
        self.batch_size = int(batch_size)
        self.device = device
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(int(seed))

    @property
    def num_rows(self) -> int:
        return int(self.X.shape[0])

    def __len__(self) -> int:
        return -(-self.num_rows // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n, bs = self.num_rows, self.batch_size
        if not self.shuffle:
            for i in range(0, n, bs):
                yield self.X[i:i + bs], self.y[i:i + bs]
            return
        perm = torch.randperm(n, generator=self.generator).to(self.device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            yield self.X.index_select(0, idx), self.y.index_select(0, idx)
