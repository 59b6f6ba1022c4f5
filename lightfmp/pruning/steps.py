"""Light-FMP's lifecycle as named steps (paper Sections 2.3-2.5): pretrain_mask (attach the gate, train on
D_S), choose, cut, continued_rows. `LightFMP` strings them together; the pipeline (`lightfmp.experiment`)
puts checkpoints and torchrun broadcasts between them (docs/architecture.md lists the signatures).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from lightfmp.errors import InputError
from lightfmp.models import build_model
from lightfmp.pruning.pretrain import PretrainConfig, PretrainResult, num_pruned_fields, pretrain
from lightfmp.pruning.plan import PruningPlan
from lightfmp.pruning.cost import linear_index
from lightfmp.pruning.slicing import apply_plan, prune_fields
from lightfmp.pruning.structure import StructureGates, choose_structure, parse_budget
from lightfmp.train import seed_everything
from lightfmp.train.rows import Rows


def count_params(model: nn.Module, with_gate: bool = False) -> int:
    """Trainable parameters of a model, shared tensors counted once: the one count every report uses.

    The gate is left out (Light-FMP's gate is not part of M_S or M_P) unless ``with_gate``: a
    single-stage method's per-sample gate network is part of the model it deploys."""
    gate = getattr(model, "gate", None)
    skip = {id(p) for p in gate.parameters()} if isinstance(gate, nn.Module) and not with_gate else set()
    seen = {id(p): p.numel() for p in model.parameters() if p.requires_grad and id(p) not in skip}
    return int(sum(seen.values()))


def pretrain_subset(data: Any, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``size`` rows of the data's D_S; an InputError when D_S is smaller."""
    Xs, ys = data.pretrain()
    if len(Xs) < size:
        raise InputError(f"--pretrain-size {size}: the data's pretraining subset D_S has only "
                         f"{len(Xs)} rows; prepare the data with a larger D_S")
    return np.asarray(Xs[:size]), np.asarray(ys[:size])


def pretrain_mask(model_name: str, vocab_sizes: Sequence[int], Xs: np.ndarray, ys: np.ndarray, model_cfg: Any,
                  pretrain_cfg: PretrainConfig, seed: int, device: str = "cpu",
                  log: bool = False) -> tuple[nn.Module, PretrainResult]:
    """Phase 1: a freshly seeded M_S with a gate attached, trained on D_S (``pretrain``) -> (M_T, result)."""
    seed_everything(seed)
    full = build_model(model_name, list(vocab_sizes), model_cfg)
    _, result = pretrain(full, Xs, ys, pretrain_cfg, seed=seed, device=device, log=log)
    return full, result


def forced_positions(names: Sequence[str], keep_fields: Sequence[str], prune_ratio: float) -> list[int]:
    """Positions of the fields kept whatever the mask says; an InputError for an unknown or too many names."""
    names = list(names)
    unknown = [f for f in keep_fields if f not in names]
    if unknown:
        raise InputError(f"--keep-fields: no field named {unknown[0]!r}; the fields are {', '.join(names)}")
    slots = len(names) - num_pruned_fields(len(names), prune_ratio)
    if len(keep_fields) > slots:
        raise InputError(f"--keep-fields names {len(keep_fields)} fields, but tau = {prune_ratio:g} "
                         f"keeps only {slots} of {len(names)}")
    return [names.index(f) for f in keep_fields]


def choose(pretrained: nn.Module, prune_ratio: float, forced: Sequence[int] = ()) -> list[int]:
    """Phase 2a: kept positions, the round(tau * m) lowest P(z > 0) pruned, ``forced`` always kept."""
    k = num_pruned_fields(pretrained.gate.num_fields, prune_ratio)
    return [int(i) for i in torch.nonzero(pretrained.gate.binary_mask(k, keep=forced)).flatten().tolist()]


def choose_joint(pretrained: nn.Module, budget: str, forced: Sequence[int] = ()) -> PruningPlan:
    """Phase 2a of joint pruning (``PretrainConfig.budget``): the kept fields and hidden units / CIN maps,
    the exact cost within the budget (``structure.choose_structure``)."""
    _, share = parse_budget(budget)
    return choose_structure(pretrained.gate, share, forced)


def compact_model_config(model_cfg: Any, units: dict[str, Sequence[int]]) -> Any:
    """The compact model's ModelConfig for kept ``units`` (plan paths -> kept positions): MLP widths and
    CIN maps shrunk, everything else as ``model_cfg`` (``slicing.compact_config`` from a config alone).
    Rebuilding M_P from a checkpoint needs it."""
    if not units:
        return model_cfg
    hidden = tuple(len(units.get(f"mlp.layers.{linear_index(i, model_cfg)}", range(h)))
                   for i, h in enumerate(model_cfg.hidden))
    cin = tuple(len(units.get(f"cin.weights.{k}", range(h))) for k, h in enumerate(model_cfg.cin_layers))
    return replace(model_cfg, hidden=hidden, cin_layers=cin)


def unit_values(gates: Any, units: dict[str, Sequence[int]]) -> dict[str, tuple[float, ...]]:
    """E[z] of each kept unit (``structure`` folds them into M_P); empty without gates."""
    if not isinstance(gates, StructureGates):
        return {}
    with torch.no_grad():
        return {p: tuple(gates.gate(p).mean()[list(u)].cpu().double().tolist()) for p, u in units.items()}


def cut(pretrained: nn.Module, keep: Sequence[int], init: str, model_name: str, model_cfg: Any,
        seed: int, units: dict[str, Sequence[int]] | None = None) -> nn.Module:
    """Phase 2b: M_T loses its gate (M_P has no masking layer), then M_P for ``keep`` (and the kept hidden
    ``units`` of joint pruning): M_T's weights sliced (``init="pretrained"``) or a freshly seeded backbone
    of the same fields and widths (``"scratch"``)."""
    gates = pretrained.gate
    StructureGates.detach(pretrained)
    if init == "pretrained":
        if units:
            return apply_plan(pretrained, PruningPlan(fields=list(keep), units=units,
                                                      unit_scale=unit_values(gates, units)))
        return prune_fields(pretrained, list(keep))
    seed_everything(seed)
    return build_model(model_name, [pretrained.vocab_sizes[i] for i in keep],
                       compact_model_config(model_cfg, units or {}))


def continued_rows(data: Any, keep: Sequence[int]) -> Rows:
    """Phase 3's rows: train minus D_S, kept columns only, as a view (nothing copied until read)."""
    index = getattr(data, "pretrain_index", None)
    if index is None:
        Xc, yc = data.continued()
        return Rows(Xc, yc, columns=tuple(keep))
    X, y = data.split("train")
    return Rows(X, y, columns=tuple(keep), exclude=np.asarray(index))
