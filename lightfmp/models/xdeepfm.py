"""xDeepFM backbone (Lian et al. 2018)."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from lightfmp.models.base import CTRModel
from lightfmp.models.config import ModelConfig
from lightfmp.nn.embedding import FieldLinear
from lightfmp.nn.layers import CIN, MLP


class XDeepFM(CTRModel):
    """``logit = sum_f w_{x_f} + w_cin^T p^+ + w_dnn^T MLP(e) + b`` (Lian et al. 2018, eq. 9).

    p^+ is the concatenation of the sum-pooled CIN layers (``lightfmp.nn.layers.CIN``: identity
    activation, no bias, eq. 6); the CIN head has no bias so that b (the deep head's) is the only one.

    Args:
        vocab_sizes: rows per field.
        cfg: embed_dim, hidden, dropout, batch_norm, cin_layers, cin_split_half are used.

    Shape: x int[B, F] -> logits float[B].

    Example:
        >>> cfg = ModelConfig(embed_dim=2, hidden=(5,), cin_layers=(3,))
        >>> XDeepFM([3, 4], cfg)(torch.zeros(7, 2, dtype=torch.long)).shape
        torch.Size([7])
    """

    name = "xdeepfm"

    def __init__(self, vocab_sizes: Sequence[int], cfg: ModelConfig = ModelConfig()):
        super().__init__(vocab_sizes, cfg)
        self.linear = FieldLinear(self.vocab_sizes)
        self.cin = CIN(self.num_fields, cfg.cin_layers, cfg.cin_split_half)
        self.cin_head = nn.Linear(self.cin.out_dim, 1, bias=False)
        self.mlp = MLP(self.num_fields * cfg.embed_dim, cfg.hidden, cfg.dropout, cfg.batch_norm)
        self.head = nn.Linear(self.mlp.out_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        e, z = self.embed(x)
        first = self.gate_terms(self.linear(x), z).sum(dim=1)
        cin = self.cin_head(self.cin(e)).squeeze(-1)
        return first + cin + self.head(self.mlp(e.flatten(1))).squeeze(-1)
