"""Mini-batches read chunk by chunk from memory-mapped rows: bounded memory, one rank's shard.

`DeviceBatches` copies a whole split onto the device, the fastest path while it fits. At Criteo size
(36M training rows, 5.6 GB of int32 ids) it does not, and under torch.distributed each rank must read
only its own shard, so `StreamBatches` reads one chunk of consecutive rows at a time from the memory
map (a sequential read: random rows from a memory map are far slower; evidence:
docs/decisions.md#streaming-batches-from-the-memory-map), applies the `Rows` view's column and row
selection to that chunk, and slices shuffled batches from it.

Choices:
- Shard: rank r of W reads the contiguous positions [r*N/W, (r+1)*N/W) (`Rows.shard`). Contiguous,
  so each rank's reads stay sequential.
- Shuffle: per epoch, a permutation of the shard's chunks, then a permutation of the rows inside each
  chunk, both from the seeded generator (`generator`, saved in checkpoints). Rows of one chunk (2^18
  by default, 41 MB at 39 fields) share batches within that epoch; with the whole shard in one chunk
  it is a full shuffle. Rows left at the end of a chunk are carried into the next chunk's first batch.
- Equal steps: DDP all-reduces gradients every step, so every rank must run the same number of steps.
  All ranks compute every shard's row count (exclusions are known to all) and run
  min_r ceil(rows_r / batch) steps; a rank with more rows stops there, leaving out at most one batch of
  rows that epoch (different rows each epoch, since the chunk order changes).
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from lightfmp.train.rows import Rows

CHUNK_ROWS = 1 << 18


class StreamBatches:
    """Shuffled batches of rank ``rank``'s shard of ``rows``, read ``chunk_rows`` positions at a time."""

    def __init__(self, rows: Rows, batch_size: int, device: str = "cpu", seed: int = 0, rank: int = 0,
                 world: int = 1, chunk_rows: int = CHUNK_ROWS, max_steps: int | None = None):
        if batch_size < 1 or chunk_rows < 1:
            raise ValueError("batch_size and chunk_rows must be >= 1")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside world size {world}")
        self.rows = rows
        self.batch_size = int(batch_size)
        self.device = device
        self.chunk_rows = int(chunk_rows)
        self.lo, self.hi = rows.shard(rank, world)
        counts = [rows.count(*rows.shard(r, world)) for r in range(world)]
        self.steps = min(-(-c // self.batch_size) for c in counts)
        if max_steps is not None:  # a partial epoch (benchmarks on data too large to pass over whole)
            self.steps = min(self.steps, int(max_steps))
        if self.steps == 0:
            raise ValueError(f"a shard of {world} has no rows to train on ({counts})")
        self.num_rows = min(counts[rank], self.steps * self.batch_size)  # rows trained per epoch here
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return self.steps

    def _chunks(self) -> list[tuple[int, int]]:
        starts = range(self.lo, self.hi, self.chunk_rows)
        order = torch.randperm(len(starts), generator=self.generator).tolist()
        return [(starts[i], min(starts[i] + self.chunk_rows, self.hi)) for i in order]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        bs, steps = self.batch_size, self.steps
        done = 0
        carry_x: Tensor | None = None
        carry_y: Tensor | None = None
        for lo, hi in self._chunks():
            X, y = self.rows.take(lo, hi)
            if len(y) == 0:
                continue
            perm = torch.randperm(len(y), generator=self.generator)
            xt = torch.from_numpy(X)[perm].to(self.device)
            yt = torch.from_numpy(y)[perm].to(self.device)
            if carry_x is not None:
                xt, yt = torch.cat([carry_x, xt]), torch.cat([carry_y, yt])
            full = (len(yt) // bs) * bs
            for i in range(0, full, bs):
                yield xt[i:i + bs], yt[i:i + bs]
                done += 1
                if done == steps:
                    return
            carry_x, carry_y = xt[full:], yt[full:]
        if carry_x is not None and len(carry_y) and done < steps:
            yield carry_x, carry_y
