"""NeuMF (He et al., "Neural Collaborative Filtering", WWW 2017), sizes as DSL's ``NeuMF/config.py``.

- GMF: p_u * q_i with 16-dimensional embeddings (eq. 9).
- MLP: its own 16-dimensional user and item embeddings, concatenated (32) -> 32 -> 16 -> 8, ReLU, dropout
  0.2 before each Linear (DSL's [32, 32, 16, 8]; NCF's PyTorch code places dropout the same way).
- NeuMF: one Linear over [GMF (16), MLP (8)] -> the logit (eq. 11-12); trained from scratch with BCE on
  the training positives and fresh uniform negatives each epoch (4 per positive, NCF's default), no
  pre-training (NCF's pre-training is optional; DSL trains from scratch).
- Init: N(0, 0.01^2) embeddings, Xavier-uniform MLP, Kaiming-uniform output layer, zero biases (NCF's code).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


PAIRS_PER_CHUNK = 1 << 22


@dataclass(frozen=True)
class NeuMFConfig:
    """DSL's NeuMF sizes (Adam lr 1e-3 as NCF, batch 512 as DSL, in `lightfmp.topk.config.NEUMF_FIT`)."""

    gmf_dim: int = 16
    mlp_dim: int = 16
    mlp_layers: tuple[int, ...] = (32, 16, 8)
    dropout: float = 0.2
    negatives: int = 4


class NeuMF(nn.Module):
    """GMF + MLP fused by one output layer.

    Args:
        num_users, num_items: id-space sizes.
        cfg: embedding sizes, MLP layers, dropout, training negatives per positive.

    Shape: ``score(users [B], items [B]) -> logits [B]``; ``score_users(users [B]) -> [B, num_items]``.

    Example: ``NeuMF(943, 1682).score(torch.tensor([0]), torch.tensor([5]))``.
    """

    def __init__(self, num_users: int, num_items: int, cfg: NeuMFConfig = NeuMFConfig()) -> None:
        super().__init__()
        self.cfg, self.num_items = cfg, int(num_items)
        self.gmf_user, self.gmf_item = nn.Embedding(num_users, cfg.gmf_dim), nn.Embedding(num_items, cfg.gmf_dim)
        self.mlp_user, self.mlp_item = nn.Embedding(num_users, cfg.mlp_dim), nn.Embedding(num_items, cfg.mlp_dim)
        layers: list[nn.Module] = []
        width = 2 * cfg.mlp_dim
        for out in cfg.mlp_layers:
            layers += [nn.Dropout(cfg.dropout), nn.Linear(width, out), nn.ReLU()]
            width = out
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(cfg.gmf_dim + width, 1)
        for emb in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            nn.init.normal_(emb.weight, std=0.01)
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.kaiming_uniform_(self.out.weight, a=1, nonlinearity="sigmoid")
        nn.init.zeros_(self.out.bias)

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        gmf = self.gmf_user(users) * self.gmf_item(items)
        mlp = self.mlp(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=-1))
        return self.out(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def score_users(self, users: Tensor) -> Tensor:
        """Every item for each user: the MLP runs per pair, so users go through in chunks of at most
        ``PAIRS_PER_CHUNK`` pairs (a 1024-user batch on Gowalla would otherwise need 5 GB of activations)."""
        items = torch.arange(self.num_items, device=users.device)
        step = max(1, PAIRS_PER_CHUNK // self.num_items)
        return torch.cat([self.score(u[:, None].expand(-1, self.num_items), items[None, :].expand(len(u), -1))
                          for u in users.split(step)])

    def bce_loss(self, users: Tensor, items: Tensor, labels: Tensor) -> Tensor:
        return nn.functional.binary_cross_entropy_with_logits(self.score(users, items), labels)
