"""DeepFM backbone (Guo et al. 2017)."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from lightfmp.models.base import CTRModel
from lightfmp.models.config import ModelConfig
from lightfmp.nn.embedding import FieldLinear
from lightfmp.nn.layers import MLP, FactorizationMachine


class DeepFM(CTRModel):
    """``logit = sum_f w_{x_f} + sum_{i<j} <e_i, e_j> + w^T MLP(e) + b``.

    FM and deep parts share the embeddings (Guo et al. 2017, eq. 1-4). The FM's first-order term is
    ``FieldLinear`` (OptFS's code comments it out; the DeepFM paper has it). One bias b, the head's.

    Args:
        vocab_sizes: rows per field.
        cfg: embed_dim, hidden, dropout, batch_norm are used.

    Shape: x int[B, F] -> logits float[B].

    Example:
        >>> DeepFM([3, 4], ModelConfig(embed_dim=2, hidden=(5,)))(torch.zeros(7, 2, dtype=torch.long)).shape
        torch.Size([7])
    """

    name = "deepfm"

    def __init__(self, vocab_sizes: Sequence[int], cfg: ModelConfig = ModelConfig()):
        super().__init__(vocab_sizes, cfg)
        self.linear = FieldLinear(self.vocab_sizes)
        self.fm = FactorizationMachine()
        self.mlp = MLP(self.num_fields * cfg.embed_dim, cfg.hidden, cfg.dropout, cfg.batch_norm)
        self.head = nn.Linear(self.mlp.out_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        e, z = self.embed(x)
        first = self.gate_terms(self.linear(x), z).sum(dim=1)
        return first + self.fm(e) + self.head(self.mlp(e.flatten(1))).squeeze(-1)
