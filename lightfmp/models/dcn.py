"""DCN backbone (Deep & Cross Network, DCN-v1, Wang et al. 2017)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from lightfmp.models.base import CTRModel
from lightfmp.models.config import ModelConfig
from lightfmp.nn.layers import MLP


class CrossLayer(nn.Module):
    """One cross layer: ``x_{l+1} = x_0 * (w^T x_l + s) + b + x_l`` (Wang et al. 2017, eq. 3).

    ``s`` is a scalar buffer, 0 in a fresh model (so the layer is exactly DCN-v1's); it is not
    trained. Field pruning folds into it the constant that a pruned field's dimensions add to
    ``w^T x_l`` (``lightfmp.pruning.slicing.slice_dcn``). ``b`` starts at zero, ``w`` uniform
    +-1/sqrt(dim) (``nn.Linear(dim, 1)``'s default), as FuxiCTR's cross layer.

    Shape: (x0 float[B, dim], x float[B, dim]) -> float[B, dim].
    """

    def __init__(self, dim: int):
        super().__init__()
        bound = 1.0 / max(int(dim), 1) ** 0.5
        self.weight = nn.Parameter(torch.empty(int(dim)).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(int(dim)))
        self.register_buffer("scalar_bias", torch.zeros(()))

    def forward(self, x0: Tensor, x: Tensor) -> Tensor:
        s = x.matmul(self.weight).add(self.scalar_bias).unsqueeze(1)
        return torch.addcmul(self.bias + x, x0, s)


class CrossNetwork(nn.Module):
    """``cross_layers`` CrossLayers applied to x_0; the output is x_L (x_0 itself when there are none).

    Shape: float[B, dim] -> float[B, dim].
    """

    def __init__(self, dim: int, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(CrossLayer(dim) for _ in range(int(num_layers)))

    def forward(self, x0: Tensor) -> Tensor:
        x = x0
        for layer in self.layers:
            x = layer(x0, x)
        return x


class DCN(CTRModel):
    """``logit = w^T [x_L, MLP(x_0)] + b`` with x_0 the flattened field embeddings (Wang et al. 2017).

    The cross network (``CrossNetwork``) and the MLP both read x_0, in parallel; one final Linear
    (``head``, the only bias of the output) reads their concatenation, cross part first. No linear
    term: the gate reaches every field through the embeddings (``embed``), so z_f = 0 zeroes field
    f's part of x_0. Not its part of x_l, though: the cross biases add constants there, which is
    why the field slicer folds them (``lightfmp.pruning.slicing.slice_dcn``).

    Args:
        vocab_sizes: rows per field.
        cfg: embed_dim, hidden, dropout, batch_norm, cross_layers are used.

    Shape: x int[B, F] -> logits float[B].

    Example:
        >>> cfg = ModelConfig(embed_dim=2, hidden=(5,), cross_layers=2)
        >>> DCN([3, 4], cfg)(torch.zeros(7, 2, dtype=torch.long)).shape
        torch.Size([7])
    """

    name = "dcn"

    def __init__(self, vocab_sizes: Sequence[int], cfg: ModelConfig = ModelConfig()):
        super().__init__(vocab_sizes, cfg)
        dim = self.num_fields * cfg.embed_dim
        self.cross = CrossNetwork(dim, cfg.cross_layers)
        self.mlp = MLP(dim, cfg.hidden, cfg.dropout, cfg.batch_norm)
        self.head = nn.Linear(dim + self.mlp.out_dim, 1)

    def droppable_blocks(self) -> list[str]:
        """Cross layers can be removed whole (``PruningPlan(drop=("cross.layers.1",))``)."""
        return [f"cross.layers.{i}" for i in range(len(self.cross.layers))]

    def forward(self, x: Tensor) -> Tensor:
        e, _ = self.embed(x)
        x0 = e.flatten(1)
        return self.head(torch.cat([self.cross(x0), self.mlp(x0)], dim=1)).squeeze(-1)
