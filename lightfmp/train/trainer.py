"""`fit`: train with early stopping on validation AUC and restore the best state.

Follows the paper's training set-up (section 3.1: Adam, BCE, batch 4096, embedding L2 1e-5) and the
usual CTR protocol (BARS / OptFS code): evaluate validation AUC after every epoch, stop after
`patience` epochs without improvement, restore the best epoch's weights (kept in memory as a CPU
copy of the state dict, never written to disk), then the caller evaluates the test split.

Choices:
- Ties on validation AUC (common on tiny splits) go to the lower validation logloss.
- If the validation labels hold a single class the AUC is undefined, so the criterion falls back to
  the lowest validation logloss (recorded in `history` either way).
- `valid=None` trains all `cfg.epochs` epochs and keeps the last state.
- Seeds (torch, numpy) are set from `cfg.seed` at the start of `fit`; callers that want a seeded
  initialisation call `seed_everything(seed)` before building the model.
- `train_seconds` is pure training (device-synchronised, the validation passes excluded);
  `total_seconds` is the wall clock of the whole call, validation and state copies included.
- The FieldTable `.sparse` flags are restored after training, so `fit` leaves the model as it found it
  apart from its weights.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.timing import Stopwatch, throughput
from lightfmp.train.batching import DeviceBatches, to_tensors
from lightfmp.train.config import TrainConfig
from lightfmp.train.loop import evaluate, train_epoch
from lightfmp.train.optim import build_optimizer, field_tables

Split = tuple[Any, Any]


@dataclass(frozen=True)
class FitResult:
    """What `fit` did. `history` holds one dict per epoch: epoch, loss, val_auc, val_logloss, seconds."""

    best_val_auc: float
    best_epoch: int
    epochs_run: int
    train_seconds: float
    eval_seconds: float
    total_seconds: float
    samples_per_second: float
    best_val_logloss: float = float("nan")
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _state_copy(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def fit(model: nn.Module, train: Split, valid: Split | None, cfg: TrainConfig,
        extra_loss: Callable[[], Tensor] | None = None, extra_param_groups: Iterable[dict[str, Any]] = (),
        progress: bool = True) -> FitResult:
    """Train `model` in place on `train` = (X [N, F] ids, y [N]) and return what happened.

    Args:
        model: any module mapping int ids [B, F] to logits [B].
        train, valid: (X, y) pairs (numpy, memmap or tensors); valid may be None (no early stopping).
        cfg: TrainConfig.
        extra_loss: zero-argument callable returning a scalar added to every step's loss
            (Light-FMP's Lagrangian term, eq. 4-5); called after the forward pass of that step.
        extra_param_groups: optimizer param groups {"params", "lr", ...}; a negative lr is gradient
            ascent (see `lightfmp.train.optim`).
        progress: tqdm bars on stderr (only if stderr is a terminal).
    """
    t_start = time.perf_counter()
    if cfg.threads is not None:
        torch.set_num_threads(int(cfg.threads))
    seed_everything(cfg.seed)
    device = cfg.device
    model.to(device)
    sparse_before = [t.sparse for t in field_tables(model)]
    optimizer = build_optimizer(model, cfg, extra_param_groups)
    batches = DeviceBatches(train[0], train[1], cfg.batch_size, device=device, seed=cfg.seed)
    if valid is not None:
        Xv, yv = to_tensors(valid[0], valid[1], device)
        y_np = yv.cpu().numpy()
        by_auc = bool((y_np > 0.5).any() and (y_np <= 0.5).any())
    train_sw, eval_sw = Stopwatch(device), Stopwatch(device)

    history: list[dict[str, float]] = []
    best_key: tuple[float, ...] = (-math.inf,)
    best_epoch, best_state = 0, None
    best_auc, best_ll = float("nan"), float("nan")
    since_best = 0
    try:
        for epoch in range(1, cfg.epochs + 1):
            ep = train_epoch(model, batches, optimizer, epoch=epoch, embed_l2=cfg.embed_l2, extra_loss=extra_loss,
                             progress=progress, stopwatch=train_sw)
            row: dict[str, float] = {"epoch": epoch, "loss": ep.loss, "seconds": ep.seconds,
                                     "samples_per_second": throughput(ep.samples, ep.seconds)}
            if valid is None:
                history.append(row)
                best_epoch = epoch
                continue
            with eval_sw.time():
                res = evaluate(model, Xv, yv, cfg.eval_batch_size, device)
            row.update(val_auc=res.auc, val_logloss=res.logloss)
            history.append(row)
            key = (res.auc, -res.logloss) if by_auc else (-res.logloss,)  # ties on AUC: lower logloss wins
            if key > best_key:
                best_key, best_epoch, best_auc, best_ll = key, epoch, res.auc, res.logloss
                best_state = _state_copy(model)
                since_best = 0
            else:
                since_best += 1
                if since_best >= cfg.patience:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
    finally:
        for t, flag in zip(field_tables(model), sparse_before):
            t.sparse = flag
    samples = sum(batches.num_rows for _ in history)
    return FitResult(best_val_auc=best_auc, best_epoch=best_epoch, epochs_run=len(history),
                     train_seconds=train_sw.seconds, eval_seconds=eval_sw.seconds,
                     total_seconds=time.perf_counter() - t_start,
                     samples_per_second=throughput(samples, train_sw.seconds),
                     best_val_logloss=best_ll, history=history)
