"""DNN backbone (paper section 2.2): MLP over the concatenated field embeddings."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from lightfmp.models.base import CTRModel
from lightfmp.models.config import ModelConfig
from lightfmp.nn.layers import MLP


class DNN(CTRModel):
    """``logit = w^T MLP(e) + b`` with e the flattened embeddings of paper eq. (1).

    Args:
        vocab_sizes: rows per field.
        cfg: embed_dim, hidden, dropout, batch_norm are used.

    Shape: x int[B, F] -> logits float[B].

    Example:
        >>> DNN([3, 4], ModelConfig(embed_dim=2, hidden=(5,)))(torch.zeros(7, 2, dtype=torch.long)).shape
        torch.Size([7])
    """

    name = "dnn"

    def __init__(self, vocab_sizes: Sequence[int], cfg: ModelConfig = ModelConfig()):
        super().__init__(vocab_sizes, cfg)
        self.mlp = MLP(self.num_fields * cfg.embed_dim, cfg.hidden, cfg.dropout, cfg.batch_norm)
        self.head = nn.Linear(self.mlp.out_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        e, _ = self.embed(x)
        return self.head(self.mlp(e.flatten(1))).squeeze(-1)
