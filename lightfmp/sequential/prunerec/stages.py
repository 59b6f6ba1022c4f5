"""PruneRec's three stages (width, then MLP width, then depth), each followed by restoration, and the
random structured control that makes the same cuts at random.

Stage 1 cuts heads (k of H per layer, `head_scores`) and hidden dims (keep ``dim_keep``, `hidden_dim_scores`)
in one surgery, as ``prune_head.sh`` does; stage 2 keeps ``ff_keep`` MLP channels per layer
(`channel_frequency`); stage 3 removes layers greedily down to ``layers_keep`` (`greedy_layer_removal`).
Each stage's scores are taken on the model restored by the stage before. Restoration distils from the
unpruned model (``restore(student, teacher)``, by default `fit_next_item` with the 0.2 CE + 0.8 KL loss
and early stopping on validation loss).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from lightfmp.sequential.data import SequenceData
from lightfmp.sequential.prunerec.scores import (channel_frequency, greedy_layer_removal, head_scores,
                                                 hidden_dim_scores, top_by_score)
from lightfmp.sequential.prunerec.surgery import Cut, cut_model
from lightfmp.sequential.transformer import NextItemTransformer


@dataclass(frozen=True)
class PruneRecConfig:
    """How much each stage cuts. PruneRec on Qwen2-0.5B: 7 of 14 heads, hidden 896 -> 448, intermediate
    4864 -> 448, 24 -> 4 layers."""

    heads_pruned: int = 4      # k of H per layer
    dim_keep: float = 0.5      # share of hidden dims kept
    ff_keep: int = 64          # MLP channels kept per layer (PruneRec's --top_nums)
    layers_keep: int = 2
    calib_size: int = 256
    alpha: float = 0.7
    q_scale: float = 1e-4
    seed: int = 0


Restore = Callable[[NextItemTransformer, NextItemTransformer], dict]


@dataclass
class StageResult:
    name: str
    cut: Cut
    model: NextItemTransformer
    score_seconds: float
    restore_seconds: float
    restore_info: dict = field(default_factory=dict)


def calibration(data: SequenceData, n: int, seed: int) -> Tensor:
    """``n`` training sequences (seeded), trimmed to their longest row."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(data.train), generator=g)[:n]
    seqs = data.train.seqs[rows]
    seqs = seqs[(seqs != 0).sum(1) >= 2]
    return seqs[:, :int((seqs != 0).sum(1).max())]


def _random_keep(size: int, n: int, g: torch.Generator) -> tuple[int, ...]:
    return tuple(sorted(torch.randperm(size, generator=g)[:n].tolist()))


def choose_width(model: NextItemTransformer, calib: Tensor, cfg: PruneRecConfig, rand: torch.Generator | None) -> Cut:
    """Stage 1's cut: heads per layer and hidden dims."""
    c = model.cfg
    n_dims = max(1, round(c.d_model * cfg.dim_keep))
    if rand is not None:
        heads = {l: _random_keep(h, max(h - cfg.heads_pruned, 0), rand) for l, h in enumerate(c.heads)}
        return Cut(heads=heads, dims=_random_keep(c.d_model, n_dims, rand))
    heads, _ = head_scores(model, calib, cfg.heads_pruned, cfg.alpha, cfg.q_scale)
    return Cut(heads=heads, dims=top_by_score(hidden_dim_scores(model, calib), n_dims))


def choose_mlp(model: NextItemTransformer, calib: Tensor, cfg: PruneRecConfig, rand: torch.Generator | None) -> Cut:
    """Stage 2's cut: the ``ff_keep`` most frequent top-activation channels of every layer."""
    ff = model.cfg.ff
    if rand is not None:
        return Cut(channels={l: _random_keep(f, min(cfg.ff_keep, f), rand) for l, f in enumerate(ff)})
    counts = channel_frequency(model, calib, cfg.ff_keep)
    return Cut(channels={l: top_by_score(c, min(cfg.ff_keep, ff[l])) for l, c in enumerate(counts)})


def choose_depth(model: NextItemTransformer, calib: Tensor, n_remove: int, rand: torch.Generator | None) -> Cut:
    """Stage 3's cut: ``n_remove`` whole layers."""
    if rand is not None:
        return Cut(drop=_random_keep(model.cfg.n_layers, n_remove, rand))
    removed, _ = greedy_layer_removal(model, calib, n_remove)
    return Cut(drop=tuple(sorted(removed)))


def run_stages(teacher: NextItemTransformer, data: SequenceData, cfg: PruneRecConfig, restore: Restore, *,
               random_cuts: bool = False, on_stage: Callable[[StageResult], None] | None = None) -> list[StageResult]:
    """PruneRec's width-then-depth pipeline from the unpruned ``teacher`` (left unchanged); with
    ``random_cuts`` the same amounts are cut at random (the random structured control)."""
    calib = calibration(data, cfg.calib_size, cfg.seed)
    rand = torch.Generator().manual_seed(cfg.seed) if random_cuts else None
    choosers = [("width", lambda m: choose_width(m, calib, cfg, rand)),
                ("mlp", lambda m: choose_mlp(m, calib, cfg, rand)),
                ("depth", lambda m: choose_depth(m, calib, max(m.cfg.n_layers - cfg.layers_keep, 0), rand))]
    model, out = teacher, []
    for name, choose in choosers:
        t0 = time.perf_counter()
        cut = choose(model)
        student = cut_model(model, cut)
        t1 = time.perf_counter()
        info = restore(student, teacher)
        res = StageResult(name, cut, student, t1 - t0, time.perf_counter() - t1, info)
        out.append(res)
        if on_stage is not None:
            on_stage(res)
        model = student
    return out


def depth_only(teacher: NextItemTransformer, data: SequenceData, max_params: int, restore: Restore, *,
               calib_size: int = 256, seed: int = 0) -> StageResult:
    """The BlockPruner-style control: greedy whole-layer removal until the non-embedding parameters are at
    most ``max_params`` (the PruneRec result's budget), then one restoration."""
    from lightfmp.sequential.transformer import non_embedding_params

    calib = calibration(data, calib_size, seed)
    t0 = time.perf_counter()
    order, _ = greedy_layer_removal(teacher, calib, teacher.cfg.n_layers)
    for n in range(teacher.cfg.n_layers + 1):
        cut = Cut(drop=tuple(sorted(order[:n])))
        student = cut_model(teacher, cut)
        if non_embedding_params(student) <= max_params:
            break
    t1 = time.perf_counter()
    info = restore(student, teacher)
    return StageResult("depth-only", cut, student, t1 - t0, time.perf_counter() - t1, info)
