"""Inner-product PNN backbone (Qu et al. 2016), built as DeepCTR-Torch builds it."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from lightfmp.models.base import CTRModel
from lightfmp.models.config import ModelConfig
from lightfmp.nn.layers import MLP, InnerProduct, pair_index


class PNN(CTRModel):
    """``logit = w^T MLP([e_flat, (<e_i, e_j>)_{i<j}]) + b``.

    The product layer's linear signal l_z and quadratic signal l_p (Qu et al. 2016, eq. 3-5) are the
    first Linear of the MLP applied to the flattened embeddings concatenated with all F(F-1)/2 inner
    products (DeepCTR-Torch ``PNN(use_inner=True)``). No linear term and no unused layers, so every
    parameter receives a gradient (pytorch-fm's PNN carries a dead one).

    Args:
        vocab_sizes: rows per field.
        cfg: embed_dim, hidden, dropout, batch_norm are used.

    Shape: x int[B, F] -> logits float[B].

    Example:
        >>> PNN([3, 4], ModelConfig(embed_dim=2, hidden=(5,)))(torch.zeros(7, 2, dtype=torch.long)).shape
        torch.Size([7])
    """

    name = "pnn"

    def __init__(self, vocab_sizes: Sequence[int], cfg: ModelConfig = ModelConfig()):
        super().__init__(vocab_sizes, cfg)
        self.inner = InnerProduct(self.num_fields)
        in_dim = self.num_fields * cfg.embed_dim + self.inner.num_pairs
        self.mlp = MLP(in_dim, cfg.hidden, cfg.dropout, cfg.batch_norm)
        self.head = nn.Linear(self.mlp.out_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        e, _ = self.embed(x)
        return self.head(self.mlp(torch.cat([e.flatten(1), self.inner(e)], dim=1))).squeeze(-1)

    def deep_input_columns(self, keep: Sequence[int]) -> Tensor:
        """Embedding blocks of kept fields, then the old columns of the pairs whose fields are both
        kept, in the compact model's pair order (i < j over the sorted kept positions)."""
        k = torch.as_tensor(list(keep), dtype=torch.long)
        F = self.num_fields
        slot = torch.full((F, F), -1, dtype=torch.long)
        rows, cols = pair_index(F)
        slot[rows, cols] = torch.arange(rows.numel())
        a, b = pair_index(len(k))
        pairs = F * self.embed_dim + slot[k[a], k[b]]
        return torch.cat([super().deep_input_columns(keep), pairs])
