"""Model surgery: cut pruned fields out of a backbone (paper section 2.4, "Pruning").

``prune_fields(model, keep)`` builds a NEW model of the same architecture for the kept fields
(``build_model(name, [vocab_sizes[i] for i in keep], cfg)``) and copies the weights of the original
into it: field-dependent layers through the slicer registry ``SLICERS``, every other parameter and
buffer as is. The input model is never modified and the gate is not copied.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from lightfmp.models import CTRModel, build_model
from lightfmp.nn.embedding import FieldTable
from lightfmp.nn.layers import CIN, MLP


@dataclass(frozen=True)
class FieldPlan:
    """What a slicer needs: kept field positions (sorted, of the original model), the original field
    count, the MLP input columns that survive (``CTRModel.deep_input_columns``), and optional
    per-kept-field scales folded into the tables."""

    keep: list[int]
    num_fields: int
    deep_columns: Tensor
    scale: Tensor | None


SliceFn = Callable[[nn.Module, nn.Module, FieldPlan], None]
SLICERS: dict[type[nn.Module], SliceFn] = {}


def register_slicer(cls: type[nn.Module]) -> Callable[[SliceFn], SliceFn]:
    """Register ``fn(old, new, plan)`` that fills ``new`` (already built for the kept fields) from
    ``old``. Subclasses of ``cls`` use it too unless they register their own."""

    def deco(fn: SliceFn) -> SliceFn:
        SLICERS[cls] = fn
        return fn

    return deco


def _slicer_for(module: nn.Module) -> SliceFn | None:
    for cls in type(module).__mro__:
        if cls in SLICERS:
            return SLICERS[cls]
    return None


@register_slicer(FieldTable)
def _slice_table(old: nn.Module, new: nn.Module, plan: FieldPlan) -> None:
    """Embedding / linear tables: the row blocks of the kept fields, times their scale if given."""
    assert isinstance(old, FieldTable) and isinstance(new, FieldTable)
    rows = old.weight.detach()[old.field_rows(plan.keep)]
    if plan.scale is not None:
        per_row = torch.repeat_interleave(plan.scale.to(rows), torch.tensor(new.vocab_sizes, device=rows.device))
        rows = rows * per_row.unsqueeze(1)
    new.weight.copy_(rows)
    new.sparse = old.sparse


@register_slicer(MLP)
def _slice_mlp(old: nn.Module, new: nn.Module, plan: FieldPlan) -> None:
    """The first Linear keeps the input columns of the kept fields; later layers (and BatchNorm
    statistics) do not depend on fields and are copied."""
    assert isinstance(old, MLP) and isinstance(new, MLP)
    for name, child in new.layers.named_children():
        if child is new.first:
            cols = plan.deep_columns.to(old.first.weight.device)
            child.weight.copy_(old.first.weight.detach()[:, cols])
            child.bias.copy_(old.first.bias.detach())
        else:
            _copy_tree(old.layers.get_submodule(name), child, plan, f"mlp.layers.{name}")


@register_slicer(CIN)
def _slice_cin(old: nn.Module, new: nn.Module, plan: FieldPlan) -> None:
    """CIN field channels: layer 1's W[h, i, j] for i and j both kept (both index X^0); later layers'
    W[h, i, j] for j kept (i indexes the previous layer's channels, which do not depend on fields)."""
    assert isinstance(old, CIN) and isinstance(new, CIN)
    k = torch.tensor(plan.keep, dtype=torch.long, device=old.weights[0].device)
    for layer, (w_old, w_new) in enumerate(zip(old.weights, new.weights)):
        w = w_old.detach().index_select(2, k)
        w_new.copy_(w.index_select(1, k) if layer == 0 else w)


def _copy_tree(old: nn.Module, new: nn.Module, plan: FieldPlan, where: str) -> None:
    """Copy ``old`` into ``new`` module by module; field-dependent modules go to their slicer."""
    fn = _slicer_for(new)
    if fn is not None:
        fn(old, new, plan)
        return
    _copy_own(old, new, where)
    for name, child in new.named_children():
        _copy_tree(old.get_submodule(name), child, plan, f"{where}.{name}" if where else name)


def _copy_own(old: nn.Module, new: nn.Module, where: str) -> None:
    """Parameters and persistent buffers held directly by the module (not its children)."""
    own = list(new.named_parameters(recurse=False)) + [
        (n, b) for n, b in new.named_buffers(recurse=False) if n not in new._non_persistent_buffers_set
    ]
    for name, dst in own:
        src = getattr(old, name)
        if src.shape != dst.shape:
            raise RuntimeError(
                f"{where}.{name}: shape {tuple(src.shape)} -> {tuple(dst.shape)} changes with the fields "
                "but no slicer is registered for this layer"
            )
        dst.copy_(src.detach())


def prune_fields(model: CTRModel, keep: Sequence[int], scale: Sequence[float] | Tensor | None = None) -> CTRModel:
    """The compact model M_P for the kept fields (paper section 2.4), weights copied from ``model``.

    Removes "all embedding vectors and their associated connections where z_m = 0": the embedding
    (and linear) table rows of pruned fields, the first MLP Linear's input columns of pruned fields
    (for PNN also the inner-product columns of pairs with a pruned field), and CIN's weights on
    pruned fields. Everything else (later Linear layers, heads, BatchNorm running statistics) is
    copied as is. The gate is not copied: the compact model has ``gate = None``.

    Why it is exact: the gated model multiplies each field's embedding and linear term by z_f. With
    z binary, a pruned field contributes exact zeros, so every weight that reads it multiplies zero;
    dropping those weights and the field's input changes nothing. Hence, in eval mode,
    ``prune_fields(m, keep)(x[:, keep]) == m(x)`` with m's gate returning the 0/1 mask of ``keep``.

    Args:
        model: the (possibly gated) backbone; unchanged.
        keep: field positions to keep (any order, no duplicates; used sorted).
        scale: optional per-field gate values, one per ORIGINAL field (or per kept field), whose kept
            entries are folded into the table rows, so the compact model also matches a gate with
            soft kept values (as Sheared-LLaMA's ``prune_params`` folds z into the weights). Only
            for field-level gates z[F]; per-sample gates cannot be folded.

    Returns:
        A new model, on the same device, in the same train/eval mode, with ``vocab_sizes`` of the kept
        fields.
    """
    F = model.num_fields
    kept = sorted(int(i) for i in keep)
    if not kept:
        raise ValueError("keep must name at least one field")
    if len(set(kept)) != len(kept) or kept[0] < 0 or kept[-1] >= F:
        raise ValueError(f"keep must be distinct positions in 0..{F - 1}, got {list(keep)}")
    z = None
    if scale is not None:
        z = torch.as_tensor(scale, dtype=torch.float32).detach().flatten().cpu()
        if z.numel() == F:
            z = z[kept]
        elif z.numel() != len(kept):
            raise ValueError(f"scale must have {F} (all fields) or {len(kept)} (kept fields) values, got {z.numel()}")
    plan = FieldPlan(keep=kept, num_fields=F, deep_columns=model.deep_input_columns(kept), scale=z)
    device, dtype = model.embedding.weight.device, model.embedding.weight.dtype
    new = build_model(model.name, [model.vocab_sizes[i] for i in kept], model.cfg).to(device=device, dtype=dtype)
    with torch.no_grad():
        # Walks the NEW model's modules, so the old model's gate (absent from the new one) is skipped.
        _copy_tree(model, new, plan, "")
    new.train(model.training)
    return new
