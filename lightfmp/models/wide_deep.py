"""Wide & Deep backbone (Cheng et al. 2016)."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from lightfmp.models.base import CTRModel
from lightfmp.models.config import ModelConfig
from lightfmp.nn.embedding import FieldLinear
from lightfmp.nn.layers import MLP


class WideDeep(CTRModel):
    """``logit = sum_f w_{x_f} + w^T MLP(e) + b``.

    Wide part: one weight per feature value (``FieldLinear``), i.e. the raw sparse features; Cheng et
    al. also add hand-made cross features, which a field-level model has no schema for, so none are
    used (as in DeepCTR-Torch and FuxiCTR). The single bias b is the head's; the gate scales each
    field's wide term as well as its embedding.

    Args:
        vocab_sizes: rows per field.
        cfg: embed_dim, hidden, dropout, batch_norm are used.

    Shape: x int[B, F] -> logits float[B].

    Example:
        >>> WideDeep([3, 4], ModelConfig(embed_dim=2, hidden=(5,)))(torch.zeros(7, 2, dtype=torch.long)).shape
        torch.Size([7])
    """

    name = "widedeep"

    def __init__(self, vocab_sizes: Sequence[int], cfg: ModelConfig = ModelConfig()):
        super().__init__(vocab_sizes, cfg)
        self.linear = FieldLinear(self.vocab_sizes)
        self.mlp = MLP(self.num_fields * cfg.embed_dim, cfg.hidden, cfg.dropout, cfg.batch_norm)
        self.head = nn.Linear(self.mlp.out_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        e, z = self.embed(x)
        wide = self.gate_terms(self.linear(x), z).sum(dim=1)
        return wide + self.head(self.mlp(e.flatten(1))).squeeze(-1)
