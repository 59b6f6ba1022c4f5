"""Physical surgery on `NextItemTransformer`: a `Cut` names what is kept, `cut_model` builds the smaller
model of the same class, `mask_model` the same-size model with binary masks that the cut must equal.

Kinds of cut (indices refer to the model being cut):

- ``heads[l]``: kept heads of layer l. Slices the q/k/v output rows (``head_dim`` rows per head) and the
  o input columns.
- ``dims``: kept hidden (residual-stream) dims, shared by every layer: the item-embedding columns (and so
  the tied head), every RMSNorm weight, the q/k/v/gate/up input columns, the o/down output rows.
- ``channels[l]``: kept MLP intermediate channels of layer l: gate/up rows, down columns.
- ``drop``: layers removed whole; the rest keep their order.

Unlike PruneRec's (unpublished) surgery script, the RMSNorms of a dim-cut model average over the kept
dims only; the masked model does the same (`RMSNorm(dim_mask=...)`), which is what makes them equal.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lightfmp.pruning.plan import PruningPlan
from lightfmp.sequential.transformer import NextItemTransformer


@dataclass(frozen=True)
class Cut:
    """What a pruned model keeps; None (or an absent layer) keeps everything of that kind."""

    heads: dict[int, tuple[int, ...]] = field(default_factory=dict)
    dims: tuple[int, ...] | None = None
    channels: dict[int, tuple[int, ...]] = field(default_factory=dict)
    drop: tuple[int, ...] = ()

    def validate(self, model: NextItemTransformer) -> None:
        cfg = model.cfg
        for name, sizes in (("heads", cfg.heads), ("channels", cfg.ff)):
            for layer, keep in getattr(self, name).items():
                if not 0 <= layer < cfg.n_layers:
                    raise ValueError(f"{name}: layer {layer} is not in 0..{cfg.n_layers - 1}")
                if keep and (min(keep) < 0 or max(keep) >= sizes[layer] or len(set(keep)) != len(keep)):
                    raise ValueError(f"{name}[{layer}] must be distinct positions in 0..{sizes[layer] - 1}")
        if self.dims is not None and (not self.dims or min(self.dims) < 0 or max(self.dims) >= cfg.d_model):
            raise ValueError(f"dims must be positions in 0..{cfg.d_model - 1}")
        if any(not 0 <= d < cfg.n_layers for d in self.drop):
            raise ValueError(f"drop must name layers in 0..{cfg.n_layers - 1}, got {list(self.drop)}")

    @classmethod
    def from_plan(cls, plan: PruningPlan) -> "Cut":
        """From the shared `PruningPlan`: ``heads["blocks.<l>.attn"]``, ``units["blocks.<l>.mlp"]`` (channels),
        ``units["item_emb"]`` (hidden dims) and ``drop`` entries ``"blocks.<l>"``."""
        heads = {int(p.split(".")[1]): tuple(k) for p, k in plan.heads.items()}
        channels = {int(p.split(".")[1]): tuple(k) for p, k in plan.units.items() if p.startswith("blocks.")}
        dims = plan.units.get("item_emb")
        return cls(heads, None if dims is None else tuple(dims), channels, tuple(int(d.split(".")[1]) for d in plan.drop))


def _rows(w: Tensor, idx: Tensor | None) -> Tensor:
    return w if idx is None else w.index_select(0, idx)


def _cols(w: Tensor, idx: Tensor | None) -> Tensor:
    return w if idx is None else w.index_select(1, idx)


def _head_rows(keep: tuple[int, ...], head_dim: int) -> Tensor:
    h = torch.as_tensor(keep, dtype=torch.long)
    return (h.view(-1, 1) * head_dim + torch.arange(head_dim)).reshape(-1)


@torch.no_grad()
def cut_model(model: NextItemTransformer, cut: Cut) -> NextItemTransformer:
    """A new, smaller `NextItemTransformer` keeping what ``cut`` names; ``model`` is left unchanged."""
    cut.validate(model)
    cfg = model.cfg
    dev = model.item_emb.weight.device
    dims = None if cut.dims is None else torch.as_tensor(sorted(cut.dims), dtype=torch.long, device=dev)
    layers = [l for l in range(cfg.n_layers) if l not in set(cut.drop)]
    heads = {l: tuple(sorted(cut.heads.get(l, range(cfg.heads[l])))) for l in layers}
    chans = {l: tuple(sorted(cut.channels.get(l, range(cfg.ff[l])))) for l in layers}
    new_cfg = cfg.with_layers(tuple(len(heads[l]) for l in layers), tuple(len(chans[l]) for l in layers),
                              d_model=cfg.d_model if dims is None else len(dims))
    out = NextItemTransformer(new_cfg).to(dev)
    out.item_emb.weight.copy_(_cols(model.item_emb.weight, dims))
    out.norm.weight.copy_(_rows(model.norm.weight, dims))
    for new_l, l in enumerate(layers):
        src, dst = model.blocks[l], out.blocks[new_l]
        hr = _head_rows(heads[l], cfg.head_dim).to(dev)
        ch = torch.as_tensor(chans[l], dtype=torch.long, device=dev)
        dst.attn_norm.weight.copy_(_rows(src.attn_norm.weight, dims))
        dst.mlp_norm.weight.copy_(_rows(src.mlp_norm.weight, dims))
        for name in ("q", "k", "v"):
            getattr(dst.attn, name).weight.copy_(_cols(_rows(getattr(src.attn, name).weight, hr), dims))
        dst.attn.o.weight.copy_(_rows(_cols(src.attn.o.weight, hr), dims))
        dst.mlp.gate.weight.copy_(_cols(_rows(src.mlp.gate.weight, ch), dims))
        dst.mlp.up.weight.copy_(_cols(_rows(src.mlp.up.weight, ch), dims))
        dst.mlp.down.weight.copy_(_rows(_cols(src.mlp.down.weight, ch), dims))
    out.train(model.training)
    return out


def _binary(size: int, keep: tuple[int, ...] | None, device: torch.device) -> Tensor:
    m = torch.zeros(size, device=device)
    m[list(range(size)) if keep is None else list(keep)] = 1.0
    return m


def mask_model(model: NextItemTransformer, cut: Cut) -> NextItemTransformer:
    """A copy of ``model`` with binary masks standing for ``cut`` (same sizes); for equivalence tests and
    for scoring a cut without surgery."""
    cut.validate(model)
    out = copy.deepcopy(model)
    dev, cfg = model.item_emb.weight.device, model.cfg
    if cut.dims is not None:
        out.dim_mask = _binary(cfg.d_model, cut.dims, dev)
    if cut.drop:
        out.layer_mask = 1.0 - _binary(cfg.n_layers, cut.drop, dev)
    for l, keep in cut.heads.items():
        out.blocks[l].attn.head_mask = _binary(cfg.heads[l], keep, dev)
    for l, keep in cut.channels.items():
        out.blocks[l].mlp.channel_mask = _binary(cfg.ff[l], keep, dev)
    return out
