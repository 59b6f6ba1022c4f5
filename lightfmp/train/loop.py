"""The one training loop (`train_loop`) that `fit`, the selectors' search and Light-FMP's pretraining
run, and one evaluation pass: plain functions, no state of their own.

The loop never synchronises with the device per step on CUDA: each step's loss is written into a
preallocated device vector, and the NaN/inf check reads it every `check_every` steps (every step on
CPU, where reading is free), so a bad loss is still reported with its exact epoch and step.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

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


@dataclass
class LoopState:
    """What `train_loop` hands its callbacks; a callback that sets `stop` ends the run there."""

    phase: str
    epoch: int = 0
    step: int = 0                 # steps run in this phase, over all epochs
    losses: Tensor | None = None  # this epoch's step losses (on the device), up to its last step
    seconds: float = 0.0          # this epoch's time on the stopwatch (set before on_epoch_end)
    began: float = 0.0            # time.perf_counter() when this epoch began
    stop: bool = False
    total_steps: int = 0          # the phase's planned steps: epochs x steps an epoch, capped at max_steps


Callback = Callable[[LoopState], None]


def train_loop(step: Callable[[Any], Tensor], batches: Any, model: nn.Module, *, phase: str, epochs: int,
               device: str | torch.device, first_epoch: int = 1, max_steps: int | None = None,
               on_step: Callback | None = None, on_epoch_end: Callback | None = None,
               stopwatch: Stopwatch | None = None, progress: bool = False) -> LoopState:
    """Run `step(batch) -> loss` (forward, backward, update) over `batches` (re-iterable, `len` steps
    each time) for epochs `first_epoch`..`epochs`, at most `max_steps` steps in all, `model` in training
    mode from each epoch's start. The stopwatch times the steps and `on_step`, not `on_epoch_end`.
    Raises NonFiniteLossError at the first NaN/inf loss.
    """
    steps, sw = len(batches), stopwatch or Stopwatch(device)
    total = epochs * steps if max_steps is None else min(epochs * steps, max_steps)
    state = LoopState(phase, step=(first_epoch - 1) * steps, total_steps=total)
    check_every = 1 if str(device) == "cpu" else 50
    for state.epoch in range(first_epoch, epochs + 1):
        state.losses, state.began, before, done = torch.zeros(steps, device=device), time.perf_counter(), sw.seconds, 0
        model.train()
        bar = tqdm(total=steps, desc=f"epoch {state.epoch}", file=sys.stderr, leave=False,
                   disable=not (progress and sys.stderr.isatty()))  # bars only on a terminal
        with sw.time():
            for batch in batches:
                state.losses[done] = step(batch).detach()
                done += 1
                state.step += 1
                if done % check_every == 0:
                    _check_finite(state, done - check_every, done)
                if on_step is not None:
                    on_step(state)
                bar.update(1)
                if state.stop or state.step == max_steps:
                    break
            _check_finite(state, done - done % check_every, done)
        bar.close()
        state.losses, state.seconds = state.losses[:done], sw.seconds - before
        if on_epoch_end is not None:
            on_epoch_end(state)
        if state.stop or state.step == max_steps:
            break
    return state


def _check_finite(st: LoopState, lo: int, hi: int) -> None:
    """The one divergence error, for the first NaN/inf among this epoch's steps lo+1..hi (the last one run)."""
    bad = ~torch.isfinite(st.losses[lo:hi])
    if bool(bad.any()):
        at = lo + int(bad.nonzero()[0, 0]) + 1
        raise NonFiniteLossError(f"{st.phase}: the loss is {st.losses[at - 1].item()} at step {st.step - hi + at} "
                                 f"(epoch {st.epoch}, step {at} of {len(st.losses)}); the run diverged: lower the "
                                 "learning rate or check the inputs")


def train_step(model: nn.Module, optimizer: CompositeOptimizer, *, embed_l2: float = 0.0,
               extra_loss: Callable[[], Tensor] | None = None, after_backward: Callable[[], None] | None = None,
               graphed: GraphedStep | None = None) -> Callable[[tuple[Tensor, Tensor]], Tensor]:
    """`fit`'s step: `step_loss`, backward, `after_backward` (data-parallel runs' table-gradient all-reduce),
    update; `graphed` (CUDA) replays a captured step for the full batches it serves (`lightfmp.train.cuda_graph`)."""
    tables = l2_tables(getattr(model, "module", model)) if embed_l2 > 0 else []

    def step(batch: tuple[Tensor, Tensor]) -> Tensor:
        xb, yb = batch
        if graphed is not None and graphed.serves(xb):
            return graphed(xb, yb)
        loss = step_loss(model, xb, yb, tables, embed_l2, extra_loss)
        optimizer.zero_grad()
        loss.backward()
        if after_backward is not None:
            after_backward()
        optimizer.step()
        return loss

    return step


def train_epoch(model: nn.Module, batches: Any, optimizer: CompositeOptimizer, *, epoch: int,
                progress: bool = False, stopwatch: Stopwatch | None = None, phase: str = "training",
                **step_kw: Any) -> EpochResult:
    """One `train_loop` epoch of `train_step(model, optimizer, **step_kw)` over `DeviceBatches` or `StreamBatches`."""
    st = train_loop(train_step(model, optimizer, **step_kw), batches, model, phase=phase, epochs=epoch,
                    first_epoch=epoch, device=batches.device, stopwatch=stopwatch, progress=progress)
    return EpochResult(loss=float(st.losses.mean()), samples=batches.num_rows, seconds=st.seconds)


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
