"""The search phase shared by the two-stage deep selectors (AutoField, OptFS, OptEm).

`lightfmp.train.loop.train_loop` over the training split with the backbone's own optimizer
(`lightfmp.train.optim.build_optimizer`: dense Adam + SparseAdam for the tables, as in `fit`), `fit`'s
loss (BCE on logits + embedding L2) plus a method's regulariser, and a method's hooks after every
step (AutoField's validation-batch gate update, temperature schedules) and every epoch (OptFS's
rewind checkpoint). No validation pass, no early stopping: each paper searches for a fixed number of
epochs. Its time is pure training time, as `fit` measures.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from torch import Tensor, nn

from lightfmp.timing import Stopwatch
from lightfmp.train.batching import DeviceBatches
from lightfmp.train.config import TrainConfig
from lightfmp.train.loop import LoopState, train_loop, train_step
from lightfmp.train.optim import build_optimizer, field_tables
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
    batches = DeviceBatches(train[0], train[1], cfg.batch_size, device=cfg.device, seed=cfg.seed)
    sizes = [cfg.batch_size] * (len(batches) - 1) + [batches.num_rows - cfg.batch_size * (len(batches) - 1)]
    sw, losses = Stopwatch(cfg.device), []

    def epoch_end(st: LoopState) -> None:
        losses.append(sum(v * b for v, b in zip(st.losses.tolist(), sizes)) / max(batches.num_rows, 1))
        if after_epoch is not None:
            after_epoch(st.epoch)
        if log_epochs:
            print(epoch_line(phase, st.epoch, epochs, losses[-1], None, time.perf_counter() - st.began),
                  file=sys.stderr, flush=True)

    try:
        st = train_loop(train_step(model, opt, embed_l2=cfg.embed_l2, extra_loss=extra_loss), batches, model,
                        phase=phase, epochs=epochs, device=cfg.device, on_epoch_end=epoch_end, stopwatch=sw,
                        on_step=None if after_step is None else lambda st: after_step(st.step))
    finally:
        for t, flag in zip(field_tables(model), sparse_before):
            t.sparse = flag
    return SearchLog(steps=st.step, seconds=sw.seconds, losses=losses)


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
