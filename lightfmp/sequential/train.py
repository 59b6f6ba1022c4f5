"""Training and evaluation of the next-item transformer: full-softmax cross-entropy at every position,
optionally distilled from a teacher (PruneRec's restoration loss), on the project's one `train_loop`.

- `fit_next_item`: Adam, length-bucketed batches trimmed to their longest row, `EarlyStopping` on the
  validation metric ``select_on`` (NDCG@10 by default; ``"loss"`` selects on the lowest validation loss,
  PruneRec's restoration rule, `distill/distill.py`: HF Trainer early stopping on eval loss).
- Distillation (``teacher`` given): ``ce_weight * CE + kl_weight * T^2 * KL(teacher || student)`` on
  softmax(logits / T) over every item, at every training position; PruneRec's ``kd.sh`` uses 0.2, 0.8,
  T = 1 (forward KL).
- `evaluate_next_item`: full ranking over every item (history not excluded, as SASRec/RecBole's
  sequential full-sort evaluation), HR@K and NDCG@K at 5, 10, 20 from `lightfmp.tasks.ranking`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightfmp.sequential.data import SequenceData, SequenceSplit
from lightfmp.sequential.transformer import NextItemTransformer
from lightfmp.tasks import NEXT_ITEM
from lightfmp.tasks.ranking import hr_ndcg, mean_metrics, rank_of_target
from lightfmp.train.early_stopping import EarlyStopping
from lightfmp.train.loop import LoopState, train_loop


@dataclass(frozen=True)
class FitConfig:
    """Training settings. ``max_seconds`` bounds the wall time (checked at each epoch end)."""

    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    select_on: str = NEXT_ITEM.select_on   # a validation metric (higher is better) or "loss" (lower is better)
    ce_weight: float = 0.2                 # used only with a teacher
    kl_weight: float = 0.8
    temperature: float = 1.0
    seed: int = 0
    max_seconds: float | None = None
    eval_batch_size: int = 1024


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    seconds: float                      # wall time of the whole fit (training and validation)
    train_seconds: float                # the training steps alone
    best: dict[str, float]              # validation metrics of the best epoch
    history: list[dict[str, float]] = field(default_factory=list)


class TrainBatches:
    """Re-iterable (inputs [B, T], targets [B, T]) batches of the train split, T trimmed to the batch's
    longest row. Rows are sorted by length with a random tie-break and cut into batches whose order is
    shuffled every epoch, so little padding is computed (sequences are short on average)."""

    def __init__(self, split: SequenceSplit, batch_size: int, seed: int, device: str | torch.device) -> None:
        self.seqs, self.lengths = split.seqs.to(device), split.lengths.to(device)
        self.batch_size, self.device = batch_size, device
        self.gen = torch.Generator().manual_seed(seed)
        keep = self.lengths >= 2      # a row needs an input and a next item
        self.rows = keep.nonzero().squeeze(1).cpu()

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        noise = torch.rand(len(self.rows), generator=self.gen)
        key = self.lengths.cpu()[self.rows].float() + noise
        order = self.rows[torch.argsort(key)]
        batches = list(torch.split(order, self.batch_size))
        for i in torch.randperm(len(batches), generator=self.gen).tolist():
            idx = batches[i].to(self.device)
            T = int(self.lengths[idx].max())
            seq = self.seqs[idx, :T]
            yield seq[:, :-1], seq[:, 1:]


def next_item_loss(model: NextItemTransformer, inputs: Tensor, targets: Tensor, teacher: nn.Module | None,
                   cfg: FitConfig) -> Tensor:
    """Full-softmax CE at every position with a next item (targets > 0), plus the distillation term."""
    h = model.hidden(inputs)
    at = targets > 0
    logits = model.item_logits(h[at])
    ce = F.cross_entropy(logits, targets[at] - 1)
    if teacher is None:
        return ce
    with torch.no_grad():
        t_logits = teacher.item_logits(teacher.hidden(inputs)[at])
    return cfg.ce_weight * ce + cfg.kl_weight * distill_kl(logits, t_logits, cfg.temperature)


def distill_kl(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """Forward KL(teacher || student) of softmax(logits / T), batch mean, times T^2 (Hinton's scaling)."""
    s = F.log_softmax(student / temperature, dim=-1)
    t = F.log_softmax(teacher / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature ** 2


def eval_batches(split: SequenceSplit, batch_size: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """(rows, inputs trimmed to their longest row, targets), rows sorted by length."""
    order = torch.argsort(split.lengths)
    for idx in torch.split(order, batch_size):
        T = int(split.lengths[idx].max().clamp(min=1))
        yield idx, split.seqs[idx, :T], split.targets[idx]


@torch.no_grad()
def evaluate_next_item(model: NextItemTransformer, data: SequenceData, split: str, *, batch_size: int = 1024,
                       device: str | torch.device = "cpu", ks: tuple[int, ...] = NEXT_ITEM.ks,
                       teacher: nn.Module | None = None, loss_cfg: FitConfig | None = None) -> dict[str, float]:
    """HR@K and NDCG@K (K in ``ks``) on ``split`` ("valid" or "test"): each row's target ranked among
    every item by the logits at its last position. With ``loss_cfg`` also ``loss``, the training loss at
    those targets (CE, or the distillation mix with ``teacher``), from the same forward pass."""
    was = model.training
    model.eval()
    parts, total = [], 0.0
    try:
        for _, seqs, targets in eval_batches(data.split(split), batch_size):
            seqs, targets = seqs.to(device), targets.to(device)
            scores = model.score_next(seqs)
            parts.append(hr_ndcg(rank_of_target(scores, targets - 1), ks))
            if loss_cfg is not None:
                loss = F.cross_entropy(scores, targets - 1)
                if teacher is not None:
                    loss = loss_cfg.ce_weight * loss + loss_cfg.kl_weight * distill_kl(
                        scores, teacher.score_next(seqs), loss_cfg.temperature)
                total += float(loss) * len(targets)
    finally:
        model.train(was)
    out = mean_metrics(parts)
    if loss_cfg is not None:
        out["loss"] = total / max(len(data.split(split)), 1)
    return out


def fit_next_item(model: NextItemTransformer, data: SequenceData, cfg: FitConfig = FitConfig(), *,
                  teacher: NextItemTransformer | None = None, device: str | torch.device = "cpu",
                  progress: bool = False) -> FitResult:
    """Train ``model`` in place on ``data.train``; early stopping on ``cfg.select_on`` over the validation
    split, best weights restored at the end. With ``teacher`` the loss is PruneRec's distillation mix."""
    torch.manual_seed(cfg.seed)
    model.to(device)
    if teacher is not None:
        teacher.to(device).eval()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = TrainBatches(data.train, cfg.batch_size, cfg.seed, device)
    stopper = EarlyStopping(cfg.patience)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()

    def step(batch: tuple[Tensor, Tensor]) -> Tensor:
        loss = next_item_loss(model, batch[0], batch[1], teacher, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def on_epoch_end(st: LoopState) -> None:
        metrics = evaluate_next_item(model, data, "valid", batch_size=cfg.eval_batch_size, device=device,
                                     teacher=teacher, loss_cfg=cfg)
        metrics.update(epoch=st.epoch, train_loss=float(st.losses.mean()), train_seconds=st.seconds)
        history.append(metrics)
        key = -metrics["loss"] if cfg.select_on == "loss" else metrics[cfg.select_on]
        stopper.update(st.epoch, key, model)
        over_time = cfg.max_seconds is not None and time.perf_counter() - t0 > cfg.max_seconds
        st.stop = stopper.stopped or over_time

    st = train_loop(step, batches, model, phase="next-item", epochs=cfg.epochs, device=device,
                    on_epoch_end=on_epoch_end, progress=progress)
    stopper.restore(model)
    model.eval()
    best = next((h for h in history if h["epoch"] == stopper.best_epoch), {})
    return FitResult(best_epoch=stopper.best_epoch, epochs_run=st.epoch, seconds=time.perf_counter() - t0,
                     train_seconds=sum(h["train_seconds"] for h in history), best=best, history=history)
