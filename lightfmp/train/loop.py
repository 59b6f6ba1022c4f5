"""One training epoch and one evaluation pass: plain functions, no state of their own.

`train_epoch` never synchronises with the device per step on CUDA: each step's loss is written into a
preallocated device vector, and the NaN/inf check reads it every `check_every` steps (every step on
CPU, where reading is free), so a bad loss is still reported with its exact epoch and step.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from lightfmp.errors import NonFiniteLossError
from lightfmp.metrics import auc as auc_score
from lightfmp.metrics import logloss as logloss_score
from lightfmp.metrics import sigmoid
from lightfmp.timing import Stopwatch, throughput
from lightfmp.train import distributed
from lightfmp.train.batching import to_tensors
from lightfmp.train.cuda_graph import GraphedStep
from lightfmp.train.rows import Rows
from lightfmp.train.optim import CompositeOptimizer, embedding_l2, l2_tables


@dataclass(frozen=True)
class EvalResult:
    """Metrics of one scoring pass; `seconds` covers the forward passes only (metrics excluded)."""

    auc: float
    logloss: float
    seconds: float
    samples_per_second: float


@dataclass(frozen=True)
class EpochResult:
    loss: float            # mean training loss (BCE + penalties) over the epoch's steps
    samples: int
    seconds: float         # pure training time (device-synchronised)


def show_progress(progress: bool) -> bool:
    """Progress bars only when asked for and stderr is a terminal."""
    return bool(progress) and sys.stderr.isatty()


def step_loss(model: nn.Module, xb: Tensor, yb: Tensor, tables: list, embed_l2: float,
              extra_loss: Callable[[], Tensor] | None = None) -> Tensor:
    """A training step's loss: BCE on logits + embedding L2 on the rows looked up + `extra_loss()`."""
    loss = nn.functional.binary_cross_entropy_with_logits(model(xb), yb)
    if tables:
        l2 = embedding_l2(tables, xb.shape[0])
        if l2 is not None:
            loss = loss + embed_l2 * l2
    if extra_loss is not None:
        loss = loss + extra_loss()
    return loss


def train_epoch(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], optimizer: CompositeOptimizer, *,
                epoch: int, embed_l2: float = 0.0, extra_loss: Callable[[], Tensor] | None = None,
                progress: bool = False, stopwatch: Stopwatch | None = None, phase: str = "training",
                after_backward: Callable[[], None] | None = None, graphed: GraphedStep | None = None) -> EpochResult:
    """Train `model` for one pass over `batches` with BCE on logits (+ embedding L2 + `extra_loss()`).

    `batches` is a `DeviceBatches` or `StreamBatches` (anything with `__len__`, `device` and `num_rows`);
    `model` may be a DDP wrapper. `after_backward` runs between backward and the optimizer step (the
    sparse table-gradient all-reduce of data-parallel runs). `graphed` (CUDA) replays a captured step
    for the full batches it serves (`lightfmp.train.cuda_graph`); the others run eagerly.
    Raises NonFiniteLossError naming the phase, epoch and step (1-based) of the first NaN/inf loss.
    """
    model.train()
    tables = l2_tables(getattr(model, "module", model)) if embed_l2 > 0 else []
    device = batches.device
    sw = stopwatch or Stopwatch(device)
    start_seconds = sw.seconds
    steps = len(batches)
    losses = torch.zeros(steps, device=device)
    check_every = 1 if str(device) == "cpu" else 50
    checked = 0
    bar = tqdm(total=steps, desc=f"epoch {epoch}", file=sys.stderr, leave=False, disable=not show_progress(progress))

    def check(upto: int) -> None:
        window = losses[checked:upto]
        bad = ~torch.isfinite(window)
        if bool(bad.any()):
            step = checked + int(bad.nonzero()[0, 0]) + 1
            raise NonFiniteLossError(f"{phase}: the loss is {window[step - checked - 1].item()} at epoch {epoch}, "
                                     f"step {step} of {steps}; lower the learning rate or check the inputs")

    with sw.time():
        for step, (xb, yb) in enumerate(batches):
            if graphed is not None and graphed.serves(xb):
                losses[step] = graphed(xb, yb)
                eager = None
            else:
                eager = step_loss(model, xb, yb, tables, embed_l2, extra_loss)
                losses[step] = eager.detach()
            if (step + 1) % check_every == 0:
                check(step + 1)
                checked = step + 1
            if eager is not None:
                optimizer.zero_grad()
                eager.backward()
                if after_backward is not None:
                    after_backward()
                optimizer.step()
            bar.update(1)
        check(steps)
    bar.close()
    return EpochResult(loss=float(losses.mean()), samples=batches.num_rows, seconds=sw.seconds - start_seconds)


@torch.no_grad()
def predict_logits(model: nn.Module, X: np.ndarray | Tensor, batch_size: int = 65536,
                   device: str = "cpu") -> tuple[np.ndarray, float]:
    """Logits float64 [N] for ids X (eval mode, no gradients) and the seconds the forward passes took."""
    was_training = model.training
    model.eval()
    n = int(X.shape[0])
    out = torch.empty(n, dtype=torch.float32, device=device)
    sw = Stopwatch(device)
    try:
        for i in range(0, n, batch_size):
            xb = X[i:i + batch_size]
            xb, _ = to_tensors(xb, None, device)
            with sw.time():
                out[i:i + xb.shape[0]] = model(xb).float()
    finally:
        model.train(was_training)
    return out.cpu().numpy().astype(np.float64), sw.seconds


@torch.no_grad()
def evaluate_rows(model: nn.Module, rows: Rows, batch_size: int = 65536, device: str = "cpu") -> EvalResult:
    """AUC and logloss over the whole of ``rows``, read a batch at a time (memory maps stay on disk).

    Under torch.distributed each rank scores its contiguous shard and the logits and labels are
    gathered in rank order, so every rank computes the metrics of the whole split (not a mean of
    per-rank metrics) and takes the same early-stopping decision. `seconds` is this rank's forward time.
    """
    info = distributed.current()
    lo, hi = rows.shard(info.rank, info.world)
    was_training = model.training
    model.eval()
    logits, labels = [], []
    sw = Stopwatch(device)
    try:
        for i in range(lo, hi, batch_size):
            X, y = rows.take(i, min(i + batch_size, hi))
            xb = torch.from_numpy(X).to(device)
            with sw.time():
                logits.append(model(xb).float())
            labels.append(torch.from_numpy(y).to(device))
    finally:
        model.train(was_training)
    local = sum(int(t.numel()) for t in labels)
    empty = torch.zeros(0, device=device)
    z = distributed.gather_rows(torch.cat(logits) if logits else empty).cpu().numpy().astype(np.float64)
    y_all = distributed.gather_rows(torch.cat(labels) if labels else empty).cpu().numpy()
    probs = sigmoid(z)
    return EvalResult(auc=auc_score(y_all, probs), logloss=logloss_score(y_all, probs),
                      seconds=sw.seconds, samples_per_second=throughput(local, sw.seconds))


def evaluate(model: nn.Module, X: np.ndarray | Tensor, y: np.ndarray | Tensor, batch_size: int = 65536,
             device: str = "cpu") -> EvalResult:
    """AUC and logloss of `model` on (X, y); timing covers the forward passes only.

    Local: it scores every row in this process and never waits for other ranks (rank 0 scores the
    test split alone after training). `evaluate_rows` is the collective, sharded form.
    """
    logits, seconds = predict_logits(model, X, batch_size, device)
    labels = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
    probs = sigmoid(logits)
    return EvalResult(auc=auc_score(labels, probs), logloss=logloss_score(labels, probs),
                      seconds=seconds, samples_per_second=throughput(int(labels.shape[0]), seconds))
