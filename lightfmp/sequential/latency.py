"""Latency per user of `score_next`: the time to score every item for one user, measured at a given batch
size on the test inputs (eval mode, no gradients), the median over repeats divided by the batch size."""
from __future__ import annotations

import statistics
import time

import torch

from lightfmp.sequential.data import SequenceData
from lightfmp.sequential.transformer import NextItemTransformer


@torch.no_grad()
def latency_per_user(model: NextItemTransformer, data: SequenceData, *, batch_size: int = 1, batches: int = 50,
                     warmup: int = 3, split: str = "test", reduce: str = "median") -> float:
    """Seconds per user: the median (or, ``reduce="min"``, the minimum: robust when other processes preempt
    this one) over ``batches`` batches of ``batch_size`` test users (the same users for every model: the
    first rows of the split), each batch trimmed to its longest row as in evaluation."""
    was = model.training
    model.eval()
    s = data.split(split)
    times = []
    try:
        for i in range(warmup + batches):
            lo = (i * batch_size) % max(len(s) - batch_size, 1)
            seqs = s.seqs[lo:lo + batch_size]
            seqs = seqs[:, :int(s.lengths[lo:lo + batch_size].max().clamp(min=1))]
            t0 = time.perf_counter()
            model.score_next(seqs)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    finally:
        model.train(was)
    return (min(times) if reduce == "min" else statistics.median(times)) / batch_size
