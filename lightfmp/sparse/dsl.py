"""DSL's mask update (Wang et al., WSDM 2024, `shuyao-wang/DSL`, ``Masking.truncate_weights``): per tensor,
remove the ``ceil(d_t * nnz)`` active weights of smallest magnitude, then activate as many inactive weights,
those with the largest gradient magnitude, at zero. The budget stays per tensor (DSL's
``redistribution='none'``), so each tensor's count of active weights never changes.

Choices, each against DSL's code:
- Death: exactly ``ceil(d_t * nnz)`` removed. DSL keeps ``|w| > x[k-1]`` (x the sorted |w|), which removes
  more when magnitudes tie at the threshold; here ties at the threshold are broken at random.
- Growth candidates: every entry inactive after the death, the ones just removed included (DSL's
  ``gradient_growth`` masks the gradient with the post-death mask, so a just-removed weight can come back).
- Gradient: the last batch's gradient of the masked weights, read after the optimizer step (``weight.grad``,
  as DSL), which is dense in the masked entries: the forward used the masked weights, and the gradient of a
  product or a lookup does not vanish where the weight is 0.
- Sparse table gradients (`RowAdam`, `F.embedding(sparse=True)`): the gradient holds only the rows the batch
  looked up. The dense gradient of a table is exactly zero on the other rows (a lookup's gradient, and the
  trainer's L2 is on looked-up rows only), so the sparse gradient is coalesced into a dense one and used as
  is: no need to train tables dense. Growth thus ranks the touched rows' entries first; once those with a
  nonzero gradient are taken, the rest of the growth is random among the zero-gradient entries (ties broken at
  random, where DSL's sort leaves the order to the sort, which favours no principled choice either).
- SET-style growth (`growth="random"`): the same death, growth uniformly at random among the inactive.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from lightfmp.sparse.masks import top_k_mask

GROWTH = ("gradient", "random")


@dataclass(frozen=True)
class MaskChange:
    """One tensor's update: the new mask and the entries removed and regrown (bool, the weight's shape)."""

    mask: Tensor
    removed: Tensor
    grown: Tensor


def removal_count(nnz: int, rate: float) -> int:
    """DSL's ``num_remove = ceil(death_rate * nnz)``, at most nnz."""
    return min(int(nnz), int(math.ceil(float(rate) * int(nnz))))


def dense_grad(grad: Tensor | None, like: Tensor) -> Tensor:
    """The gradient as a dense tensor of ``like``'s shape: a sparse (row) gradient coalesced and densified,
    None (the parameter took no part in the last step) as zeros."""
    if grad is None:
        return torch.zeros_like(like)
    if grad.is_sparse:
        return grad.coalesce().to_dense()
    return grad


def smallest_active(weight: Tensor, mask: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """The ``n`` active entries (``mask``) of smallest |weight|: the weights DSL's magnitude death removes."""
    score = torch.where(mask, -weight.detach().abs(), torch.full_like(weight, -math.inf))
    return top_k_mask(score, n, generator)


def largest_inactive(score: Tensor, mask: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
    """The ``n`` inactive entries (not ``mask``) of largest ``score`` (|gradient|, or random for SET)."""
    return top_k_mask(torch.where(mask, torch.full_like(score, -math.inf), score), n, generator)


def prune_and_regrow(weight: Tensor, mask: Tensor, grad: Tensor | None, rate: float, growth: str = "gradient",
                     generator: torch.Generator | None = None) -> MaskChange:
    """DSL's update of one tensor (module doc): remove ``ceil(rate * nnz)`` by magnitude, regrow as many by
    ``growth`` ("gradient": largest |grad|; "random": SET). Returns the new mask (same count of active
    entries) and which entries were removed and grown; the caller zeroes the weights (regrown at zero)."""
    if growth not in GROWTH:
        raise ValueError(f"growth must be one of {GROWTH}, got {growth!r}")
    n = removal_count(int(mask.sum()), rate)
    removed = smallest_active(weight, mask, n, generator)
    kept = mask & ~removed
    if growth == "gradient":
        score = dense_grad(grad, weight).detach().abs().to(weight.dtype)
    else:
        score = torch.rand(weight.shape, generator=generator).to(weight.device)
    grown = largest_inactive(score, kept, n, generator)
    return MaskChange(mask=kept | grown, removed=removed & ~grown, grown=grown & ~removed)
