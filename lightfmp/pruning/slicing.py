"""Model surgery: apply a ``PruningPlan`` to a backbone (paper section 2.4, "Pruning").

``apply_plan(model, plan)`` builds a NEW model of the same architecture for what the plan keeps
(``build_model(name, kept vocab_sizes, cfg with the kept hidden widths / cross layers)``) and fills
it from the original through the backbone's slicer ``SLICERS[model.name](old, new, plan)``. A slicer
fills the field- and unit-dependent children (tables, MLP, heads, CIN, cross network) and returns
their names; every other child is copied as is, and a shape that changed without a slicer is an
error. The input model is never modified and the gate is not copied.

``prune_fields(model, keep)`` is ``apply_plan(model, PruningPlan(fields=keep))``, the paper's field
pruning, used by Light-FMP and the selectors.

Slicers (one per backbone) and what they cover:

- dnn, pnn: tables (fields), MLP (fields: first Linear's input columns, PNN's inner-product columns
  included; units), head (units of the last hidden Linear).
- widedeep, deepfm: the same plus the per-field linear table.
- xdeepfm: the same plus CIN's field channels and feature maps, and the CIN head's columns of kept maps.
- dcn: tables, MLP, cross network (fields, with the cross biases folded; dropped cross layers), head.

Exactness, fields: the gated model multiplies each field's embedding and linear term by z_f; with z
binary a pruned field contributes exact zeros, so every weight that reads it multiplies zero (DCN's
cross biases are the exception, folded by ``slice_dcn``). Units: a dropped hidden unit's activation
reaches the output only through the next layer's column for it; the compact model equals the original
with those columns zeroed, or with the unit's gate at 0 (``lightfmp.pruning.structure``). CIN maps
likewise: a pruned map reaches the output only through the next layer's weights that read it and its
CIN head column.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from lightfmp.models import CTRModel, build_model
from lightfmp.models.config import ModelConfig
from lightfmp.nn.embedding import FieldTable
from lightfmp.nn.layers import CIN, MLP
from lightfmp.pruning.plan import PruningPlan, hidden_linears

SliceFn = Callable[[CTRModel, CTRModel, PruningPlan], set[str]]
SLICERS: dict[str, SliceFn] = {}


def register_slicer(name: str) -> Callable[[SliceFn], SliceFn]:
    """Register ``fn(old, new, plan) -> names of the children it filled`` for backbone ``name``."""

    def deco(fn: SliceFn) -> SliceFn:
        SLICERS[name] = fn
        return fn

    return deco


# ---- pieces shared by the backbone slicers -------------------------------------------------------


def _all(n: int, device: torch.device) -> Tensor:
    return torch.arange(n, device=device)


def _slice_tables(old: CTRModel, new: CTRModel, plan: PruningPlan) -> set[str]:
    """Every per-field table (embedding, linear): the row blocks of the kept fields, times plan.scale."""
    keep = plan.kept_fields(old.num_fields)
    done = set()
    for name, dst in new.named_children():
        if not isinstance(dst, FieldTable):
            continue
        src = getattr(old, name)
        rows = src.weight.detach()[src.field_rows(keep)]
        if plan.scale is not None:
            per_field = torch.tensor(plan.scale, dtype=rows.dtype, device=rows.device)
            per_row = torch.repeat_interleave(per_field, torch.tensor(dst.vocab_sizes, device=rows.device))
            rows = rows * per_row.unsqueeze(1)
        dst.weight.copy_(rows)
        dst.sparse = src.sparse
        done.add(name)
    return done


def _slice_linear(old: nn.Linear, new: nn.Linear, rows: Tensor, cols: Tensor) -> None:
    new.weight.copy_(old.weight.detach()[rows][:, cols])
    if new.bias is not None:
        new.bias.copy_(old.bias.detach()[rows])


def _slice_batch_norm(old: nn.BatchNorm1d, new: nn.BatchNorm1d, rows: Tensor) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        src = getattr(old, name)
        if src is not None:
            getattr(new, name).copy_(src.detach()[rows])
    if old.num_batches_tracked is not None:
        new.num_batches_tracked.copy_(old.num_batches_tracked)


def _slice_mlp(old: MLP, new: MLP, cols: Tensor, plan: PruningPlan, path: str) -> tuple[Tensor, Tensor | None]:
    """Fill ``new`` from ``old``: the first Linear reads input columns ``cols``; Linear ``<path>.layers.i``
    keeps the rows ``plan.units`` names (all when absent), its BatchNorm the same channels, and the next
    Linear the matching columns, times ``plan.unit_scale`` of those units when given. Returns the kept
    output units of the last Linear (the head's columns) and their scale (None: 1)."""
    dev = old.first.weight.device
    rows, scale = cols, None
    for i, (src, dst) in enumerate(zip(old.layers, new.layers)):
        if isinstance(src, nn.Linear):
            units = plan.units.get(f"{path}.layers.{i}")
            rows = _all(src.out_features, dev) if units is None else torch.tensor(units, device=dev)
            _slice_linear(src, dst, rows, cols.to(dev))
            if scale is not None:
                dst.weight.mul_(scale)
            scale = _unit_scale(plan, f"{path}.layers.{i}", dst.weight)
            cols = rows
        elif isinstance(src, nn.BatchNorm1d):
            _slice_batch_norm(src, dst, rows)
    return rows, scale


def _unit_scale(plan: PruningPlan, path: str, like: Tensor) -> Tensor | None:
    values = plan.unit_scale.get(path)
    return None if values is None else torch.tensor(values, dtype=like.dtype, device=like.device)


def _slice_mlp_and_head(old: CTRModel, new: CTRModel, plan: PruningPlan) -> set[str]:
    """The backbone's MLP (reading ``deep_input_columns`` of the kept fields) and its ``head``."""
    keep = plan.kept_fields(old.num_fields)
    last, scale = _slice_mlp(old.mlp, new.mlp, old.deep_input_columns(keep), plan, "mlp")
    _slice_linear(old.head, new.head, _all(1, last.device), last)
    if scale is not None:
        new.head.weight.mul_(scale)
    return {"mlp", "head"}


def _slice_cin(old: CIN, new: CIN, plan: PruningPlan, path: str = "cin") -> tuple[Tensor, Tensor]:
    """CIN field channels and feature maps. Fields: layer 1's W[h, i, j] for i and j both kept (both
    index X^0); later layers' W[h, i, j] for j kept. Maps (``plan.units["cin.weights.<k>"]``): layer k
    keeps rows h of its maps, layer k+1 the matching i (the maps it reads). Returns the pooled output's
    kept positions (the CIN head's columns): per layer, its offset plus its kept maps, and their scale
    (``plan.unit_scale``, folded into the weights that read each kept map)."""
    dev = old.weights[0].device
    k = torch.tensor(plan.kept_fields(old.num_fields), dtype=torch.long, device=dev)
    prev, pooled, offset, scale, scales = k, [], 0, None, []
    for layer, (w_old, w_new) in enumerate(zip(old.weights, new.weights)):
        units = plan.units.get(f"{path}.weights.{layer}")
        rows = _all(w_old.shape[0], dev) if units is None else torch.tensor(units, dtype=torch.long, device=dev)
        w_new.copy_(w_old.detach().index_select(0, rows).index_select(1, prev).index_select(2, k))
        if scale is not None:  # the previous layer's kept maps enter with their gate values
            w_new.mul_(scale.view(1, -1, 1))
        scale = _unit_scale(plan, f"{path}.weights.{layer}", w_new)
        if not old.split_half or layer == len(old.weights) - 1:
            pooled.append(rows + offset)
            scales.append(torch.ones(len(rows), dtype=w_new.dtype, device=dev) if scale is None else scale)
            offset += w_old.shape[0]
        else:  # split_half: only field slicing (maps of a split layer are not prunable, ``plan.cin_layers``)
            half = w_old.shape[0] // 2
            pooled.append(_all(w_old.shape[0] - half, dev) + offset)
            scales.append(torch.ones(w_old.shape[0] - half, dtype=w_new.dtype, device=dev))
            offset += w_old.shape[0] - half
            rows = _all(half, dev)
        prev = rows
    return torch.cat(pooled), torch.cat(scales)


# ---- one slicer per backbone ---------------------------------------------------------------------


@register_slicer("dnn")
@register_slicer("widedeep")
@register_slicer("deepfm")
@register_slicer("pnn")
def slice_mlp_backbone(old: CTRModel, new: CTRModel, plan: PruningPlan) -> set[str]:
    """DNN, Wide & Deep, DeepFM, PNN: tables, MLP (fields and units), head (units of the last Linear).
    DeepFM's FM has no weights; PNN's inner-product columns come from its ``deep_input_columns``."""
    return _slice_tables(old, new, plan) | _slice_mlp_and_head(old, new, plan)


@register_slicer("xdeepfm")
def slice_xdeepfm(old: CTRModel, new: CTRModel, plan: PruningPlan) -> set[str]:
    """xDeepFM: as ``slice_mlp_backbone`` plus CIN's field channels and feature maps, and the CIN head's
    columns of the kept maps (all of them when no map is pruned: maps do not change with fields)."""
    pooled, scale = _slice_cin(old.cin, new.cin, plan)
    new.cin_head.weight.copy_(old.cin_head.weight.detach().index_select(1, pooled) * scale)
    return _slice_tables(old, new, plan) | _slice_mlp_and_head(old, new, plan) | {"cin", "cin_head"}


@register_slicer("dcn")
def slice_dcn(old: CTRModel, new: CTRModel, plan: PruningPlan) -> set[str]:
    """DCN: tables, MLP, and the cross network with the pruned fields' constants folded.

    Derivation (eval mode, binary field gate). Split x_0's dimensions into K (kept fields) and P
    (pruned fields). The gate makes x_{0,P} = 0. A cross layer computes
    ``x_{l+1} = x_0 * s_l + b_l + x_l`` with the scalar ``s_l = w_l^T x_l + beta_l`` per row
    (beta_l = the layer's ``scalar_bias``, 0 in a fresh model). On P, x_0 = 0 kills the product, so
    ``x_{l+1,P} = b_{l,P} + x_{l,P}``: by induction x_{l,P} = c_l, a constant,
    ``c_0 = 0, c_{l+1} = c_l + b_{l,P}`` (only the layers kept: a dropped layer is the identity).
    Hence on K: ``s_l = w_{l,K}^T x_{l,K} + (beta_l + w_{l,P}^T c_l)``, so the compact layer keeps
    w_{l,K}, b_{l,K} and gets ``beta'_l = beta_l + w_{l,P}^T c_l`` (a per-row scalar that multiplies
    x_{0,K}: it cannot go into b_l, hence the ``scalar_bias`` buffer). The head reads
    ``[x_L, MLP(x_0)]``; x_{L,P} = c_L, so it keeps the K columns of the cross part and its bias becomes
    ``bias + h_P^T c_L`` (h_P: the head's weights on the P columns of the cross part).

    ``plan.drop`` names cross layers removed whole; the compact model equals the original with those
    layers replaced by the identity (x_{l+1} = x_l).
    """
    keep = plan.kept_fields(old.num_fields)
    done = _slice_tables(old, new, plan)
    D = old.embed_dim
    dev = old.head.weight.device
    K = old.deep_input_columns(keep).to(dev)
    P = torch.ones(old.num_fields * D, dtype=torch.bool, device=dev)
    P[K] = False
    dropped = {int(p.rsplit(".", 1)[1]) for p in plan.drop if p.startswith("cross.layers.")}
    kept_layers = [layer for i, layer in enumerate(old.cross.layers) if i not in dropped]
    c = torch.zeros(int(P.sum()), dtype=old.head.weight.dtype, device=dev)
    for src, dst in zip(kept_layers, new.cross.layers):
        w, b = src.weight.detach(), src.bias.detach()
        dst.weight.copy_(w[K])
        dst.bias.copy_(b[K])
        dst.scalar_bias.copy_(src.scalar_bias + w[P].dot(c))
        c = c + b[P]
    last, scale = _slice_mlp(old.mlp, new.mlp, K, plan, "mlp")
    cross_dim = old.num_fields * D
    h = old.head.weight.detach()
    deep = h[:, cross_dim + last] if scale is None else h[:, cross_dim + last] * scale
    new.head.weight.copy_(torch.cat([h[:, K], deep], dim=1))
    new.head.bias.copy_(old.head.bias.detach() + h[0, :cross_dim][P].dot(c))
    return done | {"cross", "mlp", "head"}


# ---- applying a plan -----------------------------------------------------------------------------


def compact_config(model: CTRModel, plan: PruningPlan) -> ModelConfig:
    """The compact model's config: hidden widths of unit-pruned MLP Linears, CIN maps, cross layers left."""
    cfg = model.cfg
    linears = [p for p in hidden_linears(model) if p.startswith("mlp.")]
    hidden = tuple(len(plan.units[p]) if p in plan.units else h for p, h in zip(linears, cfg.hidden))
    cin = tuple(len(plan.units.get(f"cin.weights.{k}", range(h))) for k, h in enumerate(cfg.cin_layers))
    dropped_cross = sum(1 for p in plan.drop if p.startswith("cross.layers."))
    return replace(cfg, hidden=hidden, cin_layers=cin, cross_layers=cfg.cross_layers - dropped_cross)


def apply_plan(model: CTRModel, plan: PruningPlan) -> CTRModel:
    """The compact model for ``plan`` (validated against ``model``), weights copied; ``model`` unchanged.

    Returns a new model on the same device and dtype, in the same train/eval mode, ``gate = None``,
    rebuildable from its ``build_args()``.
    """
    plan.validate(model)
    if model.name not in SLICERS:
        raise ValueError(f"no slicer is registered for backbone {model.name!r}; known: {', '.join(sorted(SLICERS))}")
    keep = plan.kept_fields(model.num_fields)
    device, dtype = model.embedding.weight.device, model.embedding.weight.dtype
    new = build_model(model.name, [model.vocab_sizes[i] for i in keep], compact_config(model, plan))
    new = new.to(device=device, dtype=dtype)
    with torch.no_grad():
        done = SLICERS[model.name](model, new, plan)
        _copy_own(model, new, "")
        for name, child in new.named_children():
            if name not in done:
                _copy_tree(model.get_submodule(name), child, name)
    new.train(model.training)
    return new


def _copy_tree(old: nn.Module, new: nn.Module, where: str) -> None:
    """Copy ``old`` into ``new`` module by module; a shape that changed is an error (no slicer for it)."""
    _copy_own(old, new, where)
    for name, child in new.named_children():
        _copy_tree(old.get_submodule(name), child, f"{where}.{name}" if where else name)


def _copy_own(old: nn.Module, new: nn.Module, where: str) -> None:
    """Parameters and persistent buffers held directly by the module (not its children)."""
    own = list(new.named_parameters(recurse=False)) + [
        (n, b) for n, b in new.named_buffers(recurse=False) if n not in new._non_persistent_buffers_set
    ]
    for name, dst in own:
        src = getattr(old, name)
        if src.shape != dst.shape:
            raise RuntimeError(
                f"{where}.{name}: shape {tuple(src.shape)} -> {tuple(dst.shape)} changes with the plan "
                "but no slicer is registered for this layer"
            )
        dst.copy_(src.detach())


def prune_fields(model: CTRModel, keep: Sequence[int], scale: Sequence[float] | Tensor | None = None) -> CTRModel:
    """The compact model M_P for the kept fields (paper section 2.4): ``apply_plan(model, PruningPlan(fields=keep))``.

    Removes "all embedding vectors and their associated connections where z_m = 0": the embedding
    (and linear) table rows of pruned fields, the first MLP Linear's input columns of pruned fields
    (for PNN also the inner-product columns of pairs with a pruned field), CIN's weights on pruned
    fields, DCN's cross weights on pruned dimensions (their bias constants folded). Everything else is
    copied as is. The gate is not copied: the compact model has ``gate = None``.

    In eval mode, ``prune_fields(m, keep)(x[:, keep]) == m(x)`` with m's gate returning the 0/1 mask
    of ``keep``.

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
        z = tuple(z.tolist())
    return apply_plan(model, PruningPlan(fields=kept, scale=z))
