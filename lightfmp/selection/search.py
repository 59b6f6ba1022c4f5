"""The search-phase loop shared by the two-stage deep selectors (AutoField, OptFS, OptEm).

A plain mini-batch loop over the training split with the backbone's own optimizer
(`lightfmp.train.optim.build_optimizer`: dense Adam + SparseAdam for the tables, as in `fit`), BCE on
logits plus the embedding L2 of `fit` plus a method's regulariser. It has hooks a method needs and
`fit` has not: a callback after every step (AutoField's validation-batch gate update, temperature
schedules) and after every epoch (OptFS's rewind checkpoint). No validation pass, no early stopping:
each paper searches for a fixed number of epochs. Its time is pure training time, as `fit` measures.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.timing import Stopwatch
from lightfmp.train.batching import DeviceBatches
from lightfmp.train.config import TrainConfig
from lightfmp.train.optim import build_optimizer, embedding_l2, field_tables
from lightfmp.train.trainer import epoch_line, seed_everything


@dataclass
class SearchLog:
    steps: int
    seconds: float
    losses: list[float]  # mean loss per epoch


def search(model: nn.Module, train: tuple[Any, Any], cfg: TrainConfig, epochs: int, *,
           extra_loss: Callable[[], Tensor] | None = None,
           extra_param_groups: Iterable[dict[str, Any]] = (),
           frozen: Sequence[nn.Parameter] = (),
           after_step: Callable[[int], None] | None = None,
           after_epoch: Callable[[int], None] | None = None, log_epochs: bool = False,
           phase: str = "search") -> SearchLog:
    """Train ``model`` (its gate set) for ``epochs`` passes; ``frozen`` parameters get no optimizer step here
    (a method updates them itself, e.g. AutoField's gate on validation batches).

    A `cfg.batch_size` of None is `auto_batch_size` of the training rows, as in `fit`. ``log_epochs``:
    one line per epoch on stderr (``search epoch 1/2: loss 0.4521, 2.1 s``), as `fit` writes them.
    """
    cfg = cfg.resolved(len(train[1]))
    seed_everything(cfg.seed)
    model.to(cfg.device)
    flags = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    sparse_before = [t.sparse for t in field_tables(model)]
    try:
        opt = build_optimizer(model, cfg, extra_param_groups)
    finally:
        for p, f in zip(frozen, flags):
            p.requires_grad_(f)
    tables = model.field_tables() if hasattr(model, "field_tables") else []
    batches = DeviceBatches(train[0], train[1], cfg.batch_size, device=cfg.device, seed=cfg.seed)
    sw = Stopwatch(cfg.device)
    step, losses = 0, []
    try:
        with sw.time():
            for epoch in range(1, epochs + 1):
                t_epoch = time.perf_counter()
                model.train()
                total, n = 0.0, 0
                for xb, yb in batches:
                    loss = nn.functional.binary_cross_entropy_with_logits(model(xb), yb)
                    if cfg.embed_l2 > 0 and tables:
                        l2 = embedding_l2(tables, xb.shape[0])
                        if l2 is not None:
                            loss = loss + cfg.embed_l2 * l2
                    if extra_loss is not None:
                        loss = loss + extra_loss()
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"search loss is {loss.item()} at epoch {epoch}, step {step + 1}")
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    step += 1
                    total += float(loss.detach()) * xb.shape[0]
                    n += xb.shape[0]
                    if after_step is not None:
                        after_step(step)
                losses.append(total / max(n, 1))
                if after_epoch is not None:
                    after_epoch(epoch)
                if log_epochs:
                    print(epoch_line(phase, epoch, epochs, losses[-1], None, time.perf_counter() - t_epoch),
                          file=sys.stderr, flush=True)
    finally:
        for t, flag in zip(field_tables(model), sparse_before):
            t.sparse = flag
    return SearchLog(steps=step, seconds=sw.seconds, losses=losses)


def value_frequencies(X: np.ndarray, vocab_sizes: Sequence[int]) -> np.ndarray:
    """How often each table row (field offset + local id) occurs in X: float64 [sum(vocab_sizes)]."""
    offsets = np.concatenate([[0], np.cumsum(vocab_sizes)[:-1]]).astype(np.int64)
    rows = (np.asarray(X, dtype=np.int64) + offsets[None, :]).reshape(-1)
    return np.bincount(rows, minlength=int(sum(vocab_sizes))).astype(np.float64)


def field_owner(vocab_sizes: Sequence[int]) -> np.ndarray:
    """Field position of every table row: int64 [sum(vocab_sizes)]."""
    return np.repeat(np.arange(len(vocab_sizes)), list(vocab_sizes))


def weighted_field_mean(values: np.ndarray, weights: np.ndarray, vocab_sizes: Sequence[int]) -> np.ndarray:
    """Per field: sum_v w_v * values_v / sum_v w_v over the field's rows (0 for a field never seen)."""
    owner = field_owner(vocab_sizes)
    num = np.bincount(owner, weights=weights * values, minlength=len(vocab_sizes))
    den = np.bincount(owner, weights=weights, minlength=len(vocab_sizes))
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)
