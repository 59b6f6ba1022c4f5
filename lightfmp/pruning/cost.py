"""``count``: parameters and multiply-adds per sample of a backbone from its widths, layer by layer.

One function serves three readers: the joint pruning constraint (expected widths under the gates' keep
probabilities, as differentiable tensors), report.json's per-layer table (exact widths of No Selection
and of the compact model) and the bench (the x axis of its figure). The widths are those of a
``PruningPlan``'s outcome: the kept fields (a 0/1 or probability weight per field), the hidden widths
of the MLP and CIN's maps per layer.

What is counted (choices; the tests check ``params`` against the models' own parameter count and the
matmul part of ``flops`` against torch's FLOP counter):

* params: every trainable parameter, as ``lightfmp.pruning.steps.count_params`` counts it (BatchNorm's
  weight and bias included, its running statistics not). Embedding and linear tables count
  ``sum_f w_f * vocab_f`` rows, so a field's share of the parameters grows with its vocabulary.
* flops: multiply-adds per sample at inference. A table lookup is free; each Linear costs in x out
  (bias adds are not counted); a first-order term costs one add per field; DeepFM's FM 2 n D (the sum
  and the sum of squares over n fields); PNN's inner products D per pair of kept fields (the pairs the
  compact model keeps, although it computes the whole Gram matrix); a CIN layer k costs
  H_{k-1} n D (the outer product) + H_k H_{k-1} n D (the compression) + H_k D (the pooling); a DCN
  cross layer 2 n D.
* Expected values (``field_weights`` and widths as probabilities and sums of them): a product of two
  widths is the product of their expectations, exact for independent gates (E[n_l n_{l+1}] =
  E[n_l] E[n_{l+1}]); PNN's pair count is ``((sum p)^2 - sum p^2) / 2``, also exact under independence.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence, Union

import torch
from torch import Tensor

Number = Union[float, Tensor]

MEASURES = ("params", "flops")
MLP_BACKBONES = ("dnn", "widedeep", "deepfm", "xdeepfm", "pnn", "dcn")
LINEAR_TERM = ("widedeep", "deepfm", "xdeepfm")


@dataclass
class LayerCost:
    """One layer's kept width (fields, units or maps), parameters and multiply-adds per sample."""

    name: str
    width: Number
    params: Number
    flops: Number

    def as_dict(self) -> dict[str, float]:
        return {"name": self.name, "width": float(self.width), "params": float(self.params), "flops": float(self.flops)}


@dataclass
class Cost:
    """Totals and the per-layer breakdown of ``count``; ``share(full, measure)`` is the kept share."""

    layers: list[LayerCost] = field(default_factory=list)

    @property
    def params(self) -> Number:
        return sum((layer.params for layer in self.layers), 0.0)

    @property
    def flops(self) -> Number:
        return sum((layer.flops for layer in self.layers), 0.0)

    def total(self, measure: str) -> Number:
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {MEASURES}, got {measure!r}")
        return self.params if measure == "params" else self.flops

    def share(self, full: "Cost", measure: str) -> Number:
        """This cost over ``full``'s (No Selection's), in ``measure``."""
        return self.total(measure) / float(full.total(measure))


def count(model: str, cfg: Any, vocab_sizes: Sequence[int], field_weights: Sequence[float] | Tensor | None = None,
          hidden: Sequence[Number] | None = None, cin: Sequence[Number] | None = None) -> Cost:
    """Parameters and multiply-adds per sample of backbone ``model`` (module docstring says what counts).

    Args:
        model: the backbone's registry name.
        cfg: its ModelConfig (embed_dim, hidden, cin_layers, batch_norm, cross_layers are read).
        vocab_sizes: rows per field of the FULL model.
        field_weights: one weight per field of ``vocab_sizes``: 1 kept, 0 pruned, or P(z_f > 0); None keeps all.
        hidden: the MLP's widths (ints, or expected widths as tensors); None: ``cfg.hidden``.
        cin: CIN's maps per layer (xDeepFM); None: ``cfg.cin_layers``.

    Returns:
        A ``Cost`` whose layers are named as the plan's paths: ``embedding``, ``linear``, ``fm``, ``inner``,
        ``cin.weights.<k>``, ``cin_head``, ``cross``, ``mlp.layers.<i>`` (the path of the i-th Linear), ``head``.
        Values are tensors when any input is a tensor (differentiable), else floats.
    """
    if model not in MLP_BACKBONES:
        raise ValueError(f"count: unknown backbone {model!r}; known: {', '.join(MLP_BACKBONES)}")
    sizes = torch.as_tensor([float(v) for v in vocab_sizes], dtype=torch.float64)
    if field_weights is None:
        w: Tensor = torch.ones_like(sizes)
    else:
        w = (field_weights if isinstance(field_weights, Tensor)
             else torch.as_tensor(list(field_weights), dtype=torch.float64))
        if w.numel() != sizes.numel():
            raise ValueError(f"field_weights must have {sizes.numel()} values, got {w.numel()}")
        w = w.to(torch.float64)
    as_float = field_weights is None or not isinstance(field_weights, Tensor)
    as_float = as_float and not any(isinstance(h, Tensor) for h in list(hidden or ()) + list(cin or ()))
    D = int(cfg.embed_dim)
    n = w.sum()
    rows = (w * sizes).sum()
    hidden = list(cfg.hidden) if hidden is None else list(hidden)
    layers: list[LayerCost] = [LayerCost("embedding", n, D * rows, 0.0)]
    if model in LINEAR_TERM:
        layers.append(LayerCost("linear", n, rows, n))
    if model == "deepfm":
        layers.append(LayerCost("fm", n, 0.0, 2 * n * D))
    mlp_in: Number = n * D
    if model == "pnn":
        pairs = (n * n - (w * w).sum()) / 2
        layers.append(LayerCost("inner", pairs, 0.0, pairs * D))
        mlp_in = mlp_in + pairs
    if model == "xdeepfm":
        layers += _cin_layers(list(cfg.cin_layers) if cin is None else list(cin), n, D, bool(cfg.cin_split_half))
    if model == "dcn":
        L = int(cfg.cross_layers)
        layers.append(LayerCost("cross", L, 2 * L * n * D, 2 * L * n * D))
    bn = 2 if cfg.batch_norm else 0
    prev = mlp_in
    for i, h in enumerate(hidden):
        layers.append(LayerCost(f"mlp.layers.{linear_index(i, cfg)}", h, prev * h + h + bn * h, prev * h))
        prev = h
    head_in = prev + (n * D if model == "dcn" else 0)
    layers.append(LayerCost("head", 1, head_in + 1, head_in))
    if as_float:
        for layer in layers:
            layer.width, layer.params, layer.flops = (float(v) for v in (layer.width, layer.params, layer.flops))
    return Cost(layers)


def _cin_layers(maps: list[Number], n: Number, D: int, split_half: bool) -> list[LayerCost]:
    """CIN's layers and head (``lightfmp.nn.layers.CIN``): H_0 = n fields feed layer 1."""
    out, prev, pooled = [], n, 0.0
    for k, h in enumerate(maps):
        last = k == len(maps) - 1
        out.append(LayerCost(f"cin.weights.{k}", h, h * prev * n, prev * n * D + h * prev * n * D + h * D))
        nxt = h / 2 if split_half and not last else h
        pooled = pooled + (h - nxt if split_half and not last else h)
        prev = nxt
    out.append(LayerCost("cin_head", pooled, pooled, pooled))
    return out


def linear_index(i: int, cfg: Any) -> int:
    """Position of the i-th hidden Linear inside ``MLP.layers`` (Linear, [BatchNorm], ReLU, [Dropout])."""
    return i * (2 + int(bool(cfg.batch_norm)) + int(float(cfg.dropout) > 0))


def full_cost(model: str, cfg: Any, vocab_sizes: Sequence[int]) -> Cost:
    """No Selection's cost: every field, ``cfg``'s widths."""
    return count(model, cfg, vocab_sizes)


def structure_table(model: str, cfg: Any, vocab_sizes: Sequence[int], keep: Sequence[int],
                    hidden: Sequence[int], cin: Sequence[int] | None = None) -> dict[str, Any]:
    """report.json's ``structure``: per layer, width, parameters and multiply-adds per sample of No
    Selection ("before") and of the compact model ("after"), and the totals with their shares."""
    before = full_cost(model, cfg, vocab_sizes)
    w = [0.0] * len(vocab_sizes)
    for i in keep:
        w[int(i)] = 1.0
    after = count(model, cfg, vocab_sizes, w, hidden=list(hidden), cin=list(cin) if cin is not None else None)
    layers = []
    for b, a in zip(before.layers, after.layers):
        layers.append({"name": b.name, "width_before": b.width, "width_after": a.width, "params_before": b.params,
                       "params_after": a.params, "flops_before": b.flops, "flops_after": a.flops})
    return {"layers": layers,
            "params_before": before.params, "params_after": after.params,
            "flops_before": before.flops, "flops_after": after.flops,
            "params_share": after.params / before.params, "flops_share": after.flops / before.flops}
