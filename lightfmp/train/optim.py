"""The optimizer: Adam for dense parameters, row-wise lazy Adam for the embedding tables.

Why: with a Criteo-sized table (1.29M rows x dim 10 = 12.9M parameters) the dense Adam update
touches every row every step, although a batch of 4096 x 39 ids touches ~20k distinct rows; updating
only those rows trains faster than dense or torch's SparseAdam on CPU. Evidence:
docs/decisions.md#row-wise-lazy-adam-for-large-tables; re-measure:
`python bench/train_throughput.py --rows 100000 --models dnn,deepfm,widedeep,pnn --update-steps 10`.

Choices:
- Dense parameters: `torch.optim.Adam`, `fused=True` where the build supports it for the device
  (CPU and CUDA in torch >= 2.4), else `foreach=True`; `weight_decay` is torch's coupled L2.
- `FieldTable` weights (`lightfmp.nn.embedding`) larger than `TrainConfig.dense_table_max_params`
  (on CPU; smaller ones join the dense Adam, see that attribute): their `.sparse` flag is set so the
  lookup yields a sparse gradient, and they go to `RowAdam` (`lightfmp.train.row_adam`): Adam's moments are updated
  only for rows the batch touched ("lazy Adam", as in TensorFlow's LazyAdamOptimizer and torch's
  SparseAdam, but without SparseAdam's sort of the 160k looked-up ids per step). An untouched row
  keeps its moments rather than decaying them and does not move; this changes the optimisation
  (it costs accuracy on small data, hence dense Adam for small tables:
  docs/decisions.md#dense-adam-for-small-tables-on-cpu), which is why the accuracy benchmark compares
  test AUC with DeepCTR-Torch's dense Adam.
- Embedding L2 (paper: 1e-5) is added to the loss as ``embed_l2 * sum(rows looked up ** 2) / batch``
  (`FieldTable.last_sq`, computed with the lookup in one autograd node):
  only the rows the batch looked up, each counted once per occurrence, so the gradient stays sparse
  and frequent values are regularised more. Dense L2 over
  the whole table (DeepCTR-Torch's choice) would touch every row and undo the sparse update's saving.
- Extra param groups (Light-FMP's mask and Lagrange multipliers): a group with a positive lr joins
  the dense Adam; a group with a negative lr is gradient *ascent*: torch optimizers refuse a negative
  lr, so it goes to its own `Adam(lr=|lr|, maximize=True)`, whose step equals Adam with the negative
  lr (the moments see the flipped gradient; v is sign-free), i.e. the multipliers rise while the
  constraint is violated, as in LLM-Shearing's negative-lr param group.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch
from torch import nn

from lightfmp.nn.embedding import FieldTable
from lightfmp.train.config import TrainConfig
from lightfmp.train.row_adam import RowAdam


def field_tables(model: nn.Module) -> list[FieldTable]:
    """Every FieldTable inside `model` (embeddings, per-field linear terms, a gate's own tables)."""
    return [m for m in model.modules() if isinstance(m, FieldTable)]


def l2_tables(model: nn.Module) -> list[FieldTable]:
    """The tables the embedding L2 applies to: the backbone's own (`CTRModel.field_tables()`, which
    leaves out a gate's tables), else every FieldTable."""
    own = getattr(model, "field_tables", None)
    return list(own()) if callable(own) else field_tables(model)


def _adam(groups: list[dict[str, Any]], lr: float, maximize: bool = False, capturable: bool = False) -> torch.optim.Adam:
    """Adam over param groups with the fastest implementation the build accepts for them.

    `capturable` keeps the step counts on the device so that the step can be recorded in a CUDA graph."""
    try:
        return torch.optim.Adam(groups, lr=lr, maximize=maximize, fused=True, capturable=capturable)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(groups, lr=lr, maximize=maximize, foreach=True, capturable=capturable)


class CompositeOptimizer:
    """Several torch optimizers stepped together; behaves like one for `zero_grad` and `step`."""

    def __init__(self, optimizers: Sequence[torch.optim.Optimizer]):
        self.optimizers = list(optimizers)

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def state_dict(self) -> list[dict[str, Any]]:
        return [opt.state_dict() for opt in self.optimizers]

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        if len(states) != len(self.optimizers):
            raise ValueError(f"optimizer state for {len(states)} optimizers, this one has {len(self.optimizers)}")
        for opt, st in zip(self.optimizers, states):
            opt.load_state_dict(st)


def build_optimizer(model: nn.Module, cfg: TrainConfig,
                    extra_param_groups: Iterable[dict[str, Any]] = (), capturable: bool = False) -> CompositeOptimizer:
    """Dense Adam + RowAdam for tables (if `cfg.sparse_tables`) + ascent Adam for negative-lr groups.

    Sets each FieldTable's `.sparse` flag to `cfg.sparse_tables`. A parameter named in an extra
    group is taken out of the model's default groups, so nothing is stepped twice.
    """
    extra = [dict(g) for g in extra_param_groups]
    claimed: set[int] = set()
    for g in extra:
        if "params" not in g or "lr" not in g:
            raise ValueError("an extra param group needs 'params' and 'lr'")
        g["params"] = [p for p in g["params"] if p.requires_grad]
        claimed |= {id(p) for p in g["params"]}

    tables = field_tables(model)
    table_params: list[nn.Parameter] = []
    for t in tables:
        # A table claimed by an extra group (e.g. a per-value gate) keeps dense gradients for its Adam.
        t.sparse = cfg.sparse_table(t.weight.numel()) and id(t.weight) not in claimed
        if t.sparse and t.weight.requires_grad:
            table_params.append(t.weight)
    sparse_ids = {id(p) for p in table_params}
    dense = [p for p in model.parameters() if p.requires_grad and id(p) not in claimed | sparse_ids]

    optimizers: list[torch.optim.Optimizer] = []
    ascent = [g for g in extra if g["lr"] < 0]
    descent = [g for g in extra if g["lr"] >= 0]
    groups = ([{"params": dense, "weight_decay": cfg.weight_decay}] if dense else [])
    groups += [{"weight_decay": 0.0, **g} for g in descent]
    if groups:
        optimizers.append(_adam(groups, lr=cfg.lr, capturable=capturable))
    if table_params:
        optimizers.append(RowAdam(table_params, lr=cfg.lr))
    for g in ascent:
        lr = -float(g["lr"])
        optimizers.append(_adam([{"weight_decay": 0.0, **g, "lr": lr}], lr=lr, maximize=True))
    return CompositeOptimizer(optimizers)


def embedding_l2(model_tables: Sequence[FieldTable], batch: int) -> torch.Tensor | None:
    """sum over tables of sum(rows looked up ** 2) / batch (`FieldTable.last_sq`), or None if no table
    ran in training mode."""
    terms = [t.last_sq for t in model_tables if t.last_sq is not None]
    if not terms:
        return None
    return torch.stack(terms).sum() / batch
