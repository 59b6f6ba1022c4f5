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
- Checkpoints: `fit` itself writes no files. After each epoch it hands `on_epoch_end` its whole state
  (weights, optimizer moments, the shuffle generator, the global random generators, history, best
  state and patience counter), and `resume=` that state continues as if never interrupted; the
  caller (the CLI verbs, `LightFMP`) writes and reads the files (`lightfmp.train.checkpoint`).
- Data too large for memory, and data-parallel runs, stream batches from the memory map
  (`make_batches`, `lightfmp.train.streaming`); DDP details in `lightfmp.train.distributed`.
- The FieldTable `.sparse` flags are restored after training, so `fit` leaves the model as it found it
  apart from its weights. So is torch's TF32 matmul switch, which `cfg.tf32` turns on for CUDA runs.
"""
from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.timing import Stopwatch, throughput
from lightfmp.train import distributed
from lightfmp.train.allocator import reuse_freed_memory_for
from lightfmp.train.batching import DeviceBatches
from lightfmp.train.checkpoint import capture_rng, restore_rng
from lightfmp.train.config import TrainConfig
from lightfmp.train.cuda_graph import GraphedStep, graph_applies
from lightfmp.train.loop import LoopState, evaluate_rows, step_loss, train_loop, train_step
from lightfmp.train.optim import build_optimizer, field_tables, l2_tables
from lightfmp.train.rows import Rows
from lightfmp.train.streaming import StreamBatches

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
    step_mode: str = "eager"  # "cuda graph" when full batches replayed a captured step
    batch_size: int = 0  # the training batch used (`TrainConfig.resolved`: chosen from the rows when None)


def epoch_line(phase: str, epoch: int, epochs: int, loss: float, val_auc: float | None, seconds: float) -> str:
    """The per-epoch log line: ``training epoch 3/10: loss 0.4521, val AUC 0.7432, 2.1 s``."""
    val = "" if val_auc is None else f", val AUC {val_auc:.4f}"
    return f"{phase} epoch {epoch}/{epochs}: loss {loss:.4f}{val}, {seconds:.1f} s"


def _step_mode(graphed: GraphedStep | None) -> str:
    if graphed is None:
        return "eager"
    if graphed.failed is not None:
        return f"eager (CUDA graph capture failed: {graphed.failed})"
    return "cuda graph" if graphed.graph is not None else "eager"


def graphed_step(model: nn.Module, net: nn.Module, optimizer: Any, cfg: TrainConfig) -> GraphedStep:
    """The CUDA-graph step of `fit`'s plain loss (BCE + embedding L2) for `net` (`model` or its wrapper);
    `optimizer` must have been built with ``capturable=True``."""
    l2 = l2_tables(model) if cfg.embed_l2 > 0 else []
    return GraphedStep(lambda xb, yb: step_loss(net, xb, yb, l2, cfg.embed_l2), optimizer.zero_grad,
                       optimizer.step, cfg.batch_size, model=model)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _state_copy(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def make_batches(rows: Rows, cfg: TrainConfig, info: distributed.DistInfo) -> DeviceBatches | StreamBatches:
    """In-memory batches while the split fits `cfg.in_memory_max_bytes` on one process, else streamed
    from the memory map (and always under torch.distributed, where each rank reads its own shard)."""
    cfg = cfg.resolved(len(rows))
    if not info.active and rows.nbytes <= cfg.in_memory_max_bytes:
        X, y = rows.load()
        return DeviceBatches(X, y, cfg.batch_size, device=cfg.device, seed=cfg.seed)
    per_rank = max(1, cfg.batch_size // info.world)
    return StreamBatches(rows, per_rank, device=cfg.device, seed=cfg.seed + 7919 * info.rank, rank=info.rank,
                         world=info.world, chunk_rows=cfg.stream_chunk_rows)


# Over 60 lines on purpose: `fit` is one training run's state (optimizer, DDP wrapper, CUDA graph, batches,
# early stopping, resume) that its epoch callback closes over and checkpoints whole; split into functions,
# each piece would take and return the same dozen values.
def fit(model: nn.Module, train: Rows | Split, valid: Rows | Split | None, cfg: TrainConfig,
        extra_loss: Callable[[], Tensor] | None = None, extra_param_groups: Iterable[dict[str, Any]] = (),
        progress: bool = True, *, phase: str = "training", resume: dict[str, Any] | None = None,
        on_epoch_end: Callable[[dict[str, Any]], None] | None = None, log_epochs: bool = False,
        on_step: Callable[[LoopState, Any], None] | None = None) -> FitResult:
    """Train `model` in place on `train` and return what happened.

    Args:
        model: any module mapping int ids [B, F] to logits [B].
        train, valid: `Rows` views or (X, y) pairs (numpy, memmap or tensors); valid may be None (no
            early stopping).
        cfg: TrainConfig.
        extra_loss: zero-argument callable returning a scalar added to every step's loss
            (Light-FMP's Lagrangian term, eq. 4-5); called after the forward pass of that step.
        extra_param_groups: optimizer param groups {"params", "lr", ...}; a negative lr is gradient
            ascent (see `lightfmp.train.optim`).
        progress: tqdm bars on stderr (only if stderr is a terminal).
        phase: named in the error raised when the loss turns NaN or infinite, and in the epoch lines.
        log_epochs: one line per epoch on stderr (rank 0), `epoch_line`: for logs, where bars are off.
        resume: a state `on_epoch_end` was given earlier (from a checkpoint): training continues after
            its epoch with its weights, optimizer moments, random generators, history and best state.
        on_epoch_end: called on every rank after each epoch with the full trainer state (CPU tensors and
            plain values); the caller writes it as a checkpoint.
        on_step: called after every optimizer step as ``on_step(loop_state, optimizer)`` (the step number
            and the phase's total steps are ``loop_state.step`` and ``loop_state.total_steps``); e.g.
            `lightfmp.sparse.SparseTraining.fit_hook()`, which re-applies its masks and updates them.

    Under torch.distributed (`lightfmp.train.distributed`) the model is wrapped in DDP for the dense
    parameters, table gradients are all-reduced sparsely, each rank streams its shard of `train`, and
    validation metrics are computed over the whole split on every rank.
    """
    t_start = time.perf_counter()
    train_view = Rows.of(train)
    cfg = cfg.resolved(len(train_view))  # batch_size None: `auto_batch_size` of the training rows
    reuse_freed_memory_for(cfg)
    if cfg.threads is not None:
        torch.set_num_threads(int(cfg.threads))
    seed_everything(cfg.seed)
    device = cfg.device
    info = distributed.current()
    model.to(device)
    tables = field_tables(model)
    sparse_before = [t.sparse for t in tables]
    train_cfg = cfg
    if info.active and info.backend == "nccl" and cfg.sparse_tables:
        train_cfg = replace(cfg, sparse_embeddings=False)  # NCCL has no sparse all-reduce: DDP averages the tables
    extra_param_groups = list(extra_param_groups)
    want_graph = graph_applies(train_cfg, info.active, custom_loss=extra_loss is not None or bool(extra_param_groups))
    optimizer = build_optimizer(model, train_cfg, extra_param_groups, capturable=want_graph)
    batches = make_batches(train_view, cfg, info)
    valid_rows = Rows.of(valid) if valid is not None else None
    by_auc = True
    if valid_rows is not None:
        y_np = np.asarray(valid_rows.y)
        by_auc = bool((y_np > 0.5).any() and (y_np <= 0.5).any())
    train_sw, eval_sw = Stopwatch(device), Stopwatch(device)
    if info.active:
        distributed.broadcast_module(model)
    net = distributed.wrap(model, tables, device)
    sync = (lambda: distributed.sync_table_grads(tables)) if info.active else None
    graphed = graphed_step(model, net, optimizer, cfg) if want_graph else None

    history: list[dict[str, float]] = []
    best_key: tuple[float, ...] = (-math.inf,)
    best_epoch, best_state = 0, None
    best_auc, best_ll = float("nan"), float("nan")
    since_best, first_epoch, stopped = 0, 1, False
    elapsed_before = 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        gens = resume["batch_generator"]  # one shuffle state per rank
        batches.generator.set_state(gens[info.rank] if isinstance(gens, (list, tuple)) else gens)
        restore_rng(resume["rng"])
        history = list(resume["history"])
        best_key, best_epoch, best_state = tuple(resume["best_key"]), resume["best_epoch"], resume["best_state"]
        best_auc, best_ll, since_best = resume["best_val_auc"], resume["best_val_logloss"], resume["since_best"]
        train_sw.seconds, eval_sw.seconds = resume["train_seconds"], resume["eval_seconds"]
        elapsed_before, stopped = resume["elapsed_seconds"], resume["stopped"]
        first_epoch = int(resume["epoch"]) + 1

    def epoch_end(st: LoopState) -> None:
        nonlocal best_key, best_epoch, best_state, best_auc, best_ll, since_best, stopped
        loss, samples = float(st.losses.mean()), batches.num_rows * info.world
        row: dict[str, float] = {"epoch": st.epoch, "loss": loss, "seconds": st.seconds,
                                 "samples_per_second": throughput(samples, st.seconds)}
        if valid_rows is None:
            best_epoch = st.epoch
        else:
            before = eval_sw.seconds
            with eval_sw.time():
                res = evaluate_rows(model, valid_rows, cfg.eval_batch_size, device)
            row.update(val_auc=res.auc, val_logloss=res.logloss, val_seconds=eval_sw.seconds - before)
            key = (res.auc, -res.logloss) if by_auc else (-res.logloss,)  # ties on AUC: lower logloss wins
            if key > best_key:
                best_key, best_epoch, best_auc, best_ll = key, st.epoch, res.auc, res.logloss
                best_state = _state_copy(model)
                since_best = 0
            else:
                since_best += 1
                st.stop = stopped = since_best >= cfg.patience
        row["samples"] = samples
        history.append(row)
        if log_epochs and info.is_main:
            print(epoch_line(phase, st.epoch, cfg.epochs, loss, row.get("val_auc"), time.perf_counter() - st.began),
                  file=sys.stderr, flush=True)
        if on_epoch_end is not None:
            on_epoch_end({
                "epoch": st.epoch, "model": _state_copy(model), "optimizer": optimizer.state_dict(),
                "batch_generator": distributed.all_objects(batches.generator.get_state()), "rng": capture_rng(),
                "history": history, "best_key": list(best_key), "best_epoch": best_epoch,
                "best_state": best_state, "best_val_auc": best_auc, "best_val_logloss": best_ll,
                "since_best": since_best, "stopped": stopped, "train_seconds": train_sw.seconds,
                "eval_seconds": eval_sw.seconds,
                "elapsed_seconds": elapsed_before + time.perf_counter() - t_start})

    tf32_before = torch.backends.cuda.matmul.allow_tf32
    try:
        if cfg.tf32 and str(device).startswith("cuda"):
            torch.backends.cuda.matmul.allow_tf32 = True
        if not stopped:
            step = train_step(net, optimizer, embed_l2=cfg.embed_l2, extra_loss=extra_loss, after_backward=sync,
                              graphed=graphed)
            train_loop(step, batches, net, phase=phase, epochs=cfg.epochs, first_epoch=first_epoch, device=device,
                       on_epoch_end=epoch_end, stopwatch=train_sw, progress=progress and info.is_main,
                       on_step=None if on_step is None else (lambda st: on_step(st, optimizer)))
        if best_state is not None:
            model.load_state_dict(best_state)
    finally:
        for t, flag in zip(tables, sparse_before):
            t.sparse = flag
        torch.backends.cuda.matmul.allow_tf32 = tf32_before
    samples = sum(int(r.get("samples", 0)) for r in history)
    return FitResult(best_val_auc=best_auc, best_epoch=best_epoch, epochs_run=len(history),
                     train_seconds=train_sw.seconds, eval_seconds=eval_sw.seconds,
                     total_seconds=elapsed_before + time.perf_counter() - t_start,
                     samples_per_second=throughput(samples, train_sw.seconds),
                     best_val_logloss=best_ll, history=history, step_mode=_step_mode(graphed),
                     batch_size=int(cfg.batch_size))
