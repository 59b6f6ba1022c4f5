"""`fit_topk` trains a top-K model with the one training loop (`lightfmp.train.loop.train_loop`), validates
every ``eval_every`` epochs, keeps the best epoch by validation ``select_on`` (`EarlyStopping`) and
restores it; the test split is never read. `evaluate_topk` scores one split.

Objectives by model: LightGCN BPR triples (`BPRBatches`, `LightGCN.bpr_loss`), MultVAE user rows with
the annealed ELBO (`UserRowBatches`, `MultVAE.elbo_loss`, beta from the number of updates done before the
step), NeuMF pointwise BCE with fresh negatives (`PointwiseBatches`, `NeuMF.bce_loss`). Adam for all.

Evaluation: `InteractionData` ranks every item (validation excludes train items, test excludes train and
validation items); `LeaveOneOutData` ranks each user's target among its fixed negatives (HR@K, NDCG@K, and
recall@K, which equals HR@K for one held-out item, so `TOPK.select_on` applies unchanged).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Union

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.errors import InputError
from lightfmp.tasks.ranking import full_ranking, hr_ndcg, mean_metrics, rank_of_target
from lightfmp.topk.batches import BPRBatches, PointwiseBatches, UserRowBatches
from lightfmp.topk.config import TopKFitConfig
from lightfmp.topk.data import InteractionData
from lightfmp.topk.lightgcn import LightGCN
from lightfmp.topk.multvae import MultVAE
from lightfmp.topk.neumf import NeuMF
from lightfmp.topk.protocols import LeaveOneOutData
from lightfmp.train.early_stopping import EarlyStopping
from lightfmp.train.loop import LoopState, train_loop

TopKData = Union[InteractionData, LeaveOneOutData]
AfterStep = Callable[[nn.Module, torch.optim.Optimizer, int, int], None]


@dataclass
class TopKFit:
    """What `fit_topk` returns; the model holds the best epoch's weights."""

    select_on: str
    best_metric: float
    best_epoch: int
    epochs_run: int
    train_seconds: float                      # the training steps only (validation excluded)
    best_valid: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


def training_recipe(model: nn.Module, data: TopKData, cfg: TopKFitConfig,
                    rng: np.random.Generator) -> tuple[Any, Callable[[Any, int], Tensor]]:
    """The batches and the ``loss(batch, step)`` of a model's objective."""
    users = data.training_users()
    if isinstance(model, LightGCN):
        return (BPRBatches(data.train, data.num_items, users, cfg.batch_size, rng, cfg.device),
                lambda b, step: model.bpr_loss(*b))
    if isinstance(model, MultVAE):
        return (UserRowBatches(data.train, data.num_items, users, cfg.batch_size, rng, cfg.device),
                lambda b, step: model.elbo_loss(b, step))
    if isinstance(model, NeuMF):
        return (PointwiseBatches(data.train, data.num_items, users, cfg.batch_size, rng, model.cfg.negatives,
                                 cfg.device), lambda b, step: model.bce_loss(*b))
    raise InputError(f"no top-K training objective for {type(model).__name__}")


def fit_topk(model: nn.Module, data: TopKData, cfg: TopKFitConfig = TopKFitConfig(), *,
             after_step: AfterStep | None = None, progress: bool = False, log_epochs: bool = False) -> TopKFit:
    """Train ``model`` on ``data.train`` for at most ``cfg.epochs`` epochs; early stopping and model
    selection on validation ``cfg.select_on``. ``after_step(model, optimizer, step, total_steps)`` runs after
    every optimizer step (dynamic sparse training's mask updates)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model.to(cfg.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches, loss_of = training_recipe(model, data, cfg, rng)
    stopper = EarlyStopping(cfg.patience)
    history: list[dict[str, float]] = []
    done = [0]                                    # optimizer steps taken (MultVAE's KL annealing reads it)
    train_seconds = [0.0]

    def step(batch: Any) -> Tensor:
        loss = loss_of(batch, done[0])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done[0] += 1
        return loss

    def on_step(state: LoopState) -> None:
        if after_step is not None:
            after_step(model, optimizer, state.step, state.total_steps)

    def on_epoch_end(state: LoopState) -> None:
        train_seconds[0] += state.seconds
        row = {"epoch": float(state.epoch), "loss": float(state.losses.mean()), "seconds": state.seconds}
        if state.epoch % cfg.eval_every == 0 or state.epoch == cfg.epochs:
            valid = evaluate_topk(model, data, "valid", ks=cfg.ks, batch_size=cfg.eval_batch_size)
            if cfg.select_on not in valid:
                raise InputError(f"select_on {cfg.select_on!r} is not a validation metric: {sorted(valid)}")
            row.update({f"valid_{k}": v for k, v in valid.items()})
            stopper.update(state.epoch, valid[cfg.select_on], model)
            state.stop = stopper.stopped
        history.append(row)
        if log_epochs:
            print(" ".join(f"{k}={v:.4g}" for k, v in row.items()), file=sys.stderr, flush=True)

    state = train_loop(step, batches, model, phase="topk", epochs=cfg.epochs, device=cfg.device,
                       on_step=on_step, on_epoch_end=on_epoch_end, progress=progress)
    stopper.restore(model)
    best = next((h for h in history if h["epoch"] == stopper.best_epoch), {})
    return TopKFit(cfg.select_on, float(stopper.best_key[0]), stopper.best_epoch, state.epoch, train_seconds[0],
                   {k[len("valid_"):]: v for k, v in best.items() if k.startswith("valid_")}, history)


@torch.no_grad()
def evaluate_topk(model: nn.Module, data: TopKData, split: str, *, ks: tuple[int, ...] = (20,),
                  batch_size: int = 1024) -> dict[str, float]:
    """Metrics of ``split`` (``valid`` or ``test``), the model in eval mode; validation never reads test."""
    if split not in ("valid", "test"):
        raise InputError(f"evaluate_topk scores valid or test, not {split!r}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        if isinstance(data, LeaveOneOutData):
            return _sampled_ranking(model, data, split, ks, batch_size, device)
        exclude = (data.train,) if split == "valid" else (data.train, data.valid)
        return full_ranking(model.score_users, np.arange(data.num_users), data.split(split), ks, exclude,
                            batch_size, str(device))
    finally:
        model.train(was_training)


def _sampled_ranking(model: nn.Module, data: LeaveOneOutData, split: str, ks: tuple[int, ...], batch_size: int,
                     device: torch.device) -> dict[str, float]:
    """Each user's target ranked among its fixed negatives: HR@K, NDCG@K (recall@K = HR@K)."""
    target = data.target(split)
    users = np.flatnonzero(target >= 0)
    parts = []
    for i in range(0, len(users), batch_size):
        ub = torch.from_numpy(users[i:i + batch_size]).to(device)
        cands = torch.from_numpy(np.column_stack([target[users[i:i + batch_size]],
                                                  data.negatives[users[i:i + batch_size]]])).to(device)
        if hasattr(model, "score"):
            scores = model.score(ub[:, None].expand_as(cands), cands)
        else:
            scores = model.score_users(ub).gather(1, cands)
        part = hr_ndcg(rank_of_target(scores.float(), torch.zeros(len(ub), dtype=torch.long, device=device)), ks)
        part.update({f"recall@{k}": part[f"hr@{k}"] for k in ks})
        parts.append(part)
    return mean_metrics(parts)
