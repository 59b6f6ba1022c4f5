"""Per-tensor binary masks at a fixed density: which tensors, how many active, the first masks.

Which tensors (`default_targets`): embedding tables (`FieldTable`, `nn.Embedding`, `nn.EmbeddingBag`) and
`nn.Linear` weights; biases, norms and every other parameter stay dense, as in sparse-training practice
(RigL, SET). A score head (a Linear with one output) stays dense too, as DSL's NeuMF keeps its ``predict``
layer dense: its weight is one vector, and at density d it would disconnect 1 - d of the last hidden layer's
units, whose incoming weights then get no gradient (the DNN's head is 201 of ~400k parameters). DSL's own
code differs by backbone (every MultVAE parameter, biases included; only the MLP-path embeddings of NeuMF;
LightGCN's one table); a caller can name any parameters instead.

How many (`active_count`): ``round(density * numel)``, at least 1, fixed for the whole run, so the density
holds exactly after every step. DSL's uniform init draws a Bernoulli(density) mask per entry instead (the
count then varies around density * numel); an exact count makes the budget exact and the file size
predictable. Per-tensor densities (`erk_densities`): "uniform", every tensor at the density (DSL's code), or
"erk", RigL's Erdos-Renyi-Kernel split of the same total. Measured on the ML-1M sample (DNN, density 0.2,
`bench/sparse_ctr.py`): the embedding table is where uniform sparsity costs AUC (the table alone at 0.2:
-0.005; the MLP alone at 0.2: none), and ERK, which keeps the table at 0.55 and the MLP at 0.03-0.08, lost
0.0014 to dense against uniform's 0.0054.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.nn.embedding import FieldTable

TABLE_TYPES: tuple[type[nn.Module], ...] = (FieldTable, nn.Embedding, nn.EmbeddingBag)


def default_targets(module: nn.Module, skip_prefixes: Iterable[str] = ("gate",), dense_heads: bool = True) -> list[str]:
    """Names of the parameters masked by default: table weights and Linear weights, in module order.

    Modules under a name that starts with one of ``skip_prefixes`` are left dense (a backbone's field gate
    is not part of the backbone's budget), and with ``dense_heads`` so are Linear layers with one output."""
    skip = tuple(f"{p}." for p in skip_prefixes) + tuple(skip_prefixes)
    names = []
    for mod_name, mod in module.named_modules():
        if mod_name.startswith(skip) and mod_name:
            continue
        if dense_heads and isinstance(mod, nn.Linear) and mod.out_features == 1:
            continue
        if isinstance(mod, TABLE_TYPES + (nn.Linear,)) and isinstance(getattr(mod, "weight", None), nn.Parameter):
            names.append(f"{mod_name}.weight" if mod_name else "weight")
    return names


def active_count(numel: int, density: float) -> int:
    """Active entries of a tensor of ``numel`` entries at ``density``: round(density * numel), at least 1."""
    return min(int(numel), max(1, int(round(float(density) * int(numel)))))


def top_k_mask(score: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """bool mask of ``score``'s shape, True at the ``k`` largest scores.

    O(n): one ``kthvalue`` for the threshold, no sort (a Criteo-sized table has 12.9M entries). Ties at the
    threshold are broken at random with ``generator`` (CPU), else by lower flat index."""
    flat = score.reshape(-1)
    n = flat.numel()
    if k <= 0 or k >= n:
        return torch.full_like(score, k >= n and k > 0, dtype=torch.bool)
    threshold = flat.kthvalue(n - k + 1).values  # the k-th largest
    mask = flat > threshold
    need = k - int(mask.sum())
    ties = (flat == threshold).nonzero().squeeze(1)
    if generator is not None and ties.numel() > need:
        ties = ties[torch.randperm(ties.numel(), generator=generator).to(ties.device)]
    mask[ties[:need]] = True
    return mask.view_as(score)


def random_mask(like: Tensor, density: float, generator: torch.Generator) -> Tensor:
    """Exactly `active_count` entries chosen uniformly at random (``generator`` on the CPU)."""
    k = active_count(like.numel(), density)
    idx = torch.randperm(like.numel(), generator=generator)[:k].to(like.device)
    mask = torch.zeros(like.numel(), dtype=torch.bool, device=like.device)
    mask[idx] = True
    return mask.view_as(like)


def magnitude_mask(weight: Tensor, density: float) -> Tensor:
    """The `active_count` entries of largest |weight|: one-shot magnitude pruning of one tensor."""
    return top_k_mask(weight.detach().abs(), active_count(weight.numel(), density))


def global_magnitude_masks(weights: Mapping[str, Tensor], density: float) -> dict[str, Tensor]:
    """DSL's ``lottery_ticket`` init: one magnitude threshold over all the tensors together, so each
    tensor's density differs (small-init embedding tables can lose almost every entry)."""
    flat = torch.cat([w.detach().abs().reshape(-1).cpu() for w in weights.values()])
    keep = top_k_mask(flat, active_count(flat.numel(), density))
    out, at = {}, 0
    for name, w in weights.items():
        out[name] = keep[at:at + w.numel()].view_as(w).to(w.device)
        at += w.numel()
    return out


def nonzero_masks(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Masks read back from the weights (an active weight that is exactly 0 reads as inactive)."""
    return {name: w.detach() != 0 for name, w in weights.items()}


def density(masks: Mapping[str, Tensor]) -> float:
    """Active entries over all entries of the masked tensors together."""
    total = sum(int(m.numel()) for m in masks.values())
    return sum(int(m.sum()) for m in masks.values()) / max(total, 1)


ALLOCATIONS = ("uniform", "erk")


def erk_densities(shapes: Mapping[str, Sequence[int]], density: float) -> dict[str, float]:
    """Per-tensor densities of the Erdos-Renyi-Kernel distribution (RigL, Evci et al. 2020, section 3;
    `google-research/rigl` ``get_sparsities_erdos_renyi``) with ``density`` of all their entries active.

    A tensor's density is proportional to ``sum(shape) / prod(shape)`` (for a Linear, (in + out) / (in x out);
    for a table, (rows + width) / (rows x width), about 1 / width), capped at 1: a tensor that would exceed 1
    is made dense and the rest rescaled. Narrow embedding tables thus keep far more than the MLP's square
    layers, which tolerate sparsity better."""
    numel = {n: int(np.prod(s)) for n, s in shapes.items()}
    raw = {n: sum(int(d) for d in s) / numel[n] for n, s in shapes.items()}
    budget = float(density) * sum(numel.values())
    dense: set[str] = set()
    while True:
        rest = [n for n in shapes if n not in dense]
        if not rest:
            return {n: 1.0 for n in shapes}
        eps = (budget - sum(numel[n] for n in dense)) / sum(raw[n] * numel[n] for n in rest)
        top = max(rest, key=lambda n: raw[n])
        if eps * raw[top] <= 1.0:
            return {n: 1.0 if n in dense else eps * raw[n] for n in shapes}
        dense.add(top)
