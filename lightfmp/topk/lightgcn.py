"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020), with the sparse propagation in torch.sparse instead of DGL (DSL's ``LightGCN/``).

- Graph: A = [[0, R], [R^T, 0]] over users then items (one node-id space, as LightGCN's and DSL's code),
  normalised Â = D^-1/2 A D^-1/2 (eq. 7-8); a node without edges gets 0 instead of 1/0.
- Propagation: E^(k+1) = Â E^(k), final E = mean of E^(0..K) (eq. 8-9, alpha_k = 1 / (K + 1)). One
  ``torch.sparse.mm`` with a CSR Â per layer; the gradient flows to the ego embeddings E^(0). Â is
  symmetric, so the backward of a layer is Â times the incoming gradient (`SymmetricSpMM`): the same CSR
  product as the forward, where torch's own CSR backward transposes Â every step (5x slower on CPU).
- Score: <e_u, e_i> (eq. 10). Loss: BPR, mean softplus(s_uj - s_ui) (eq. 15), plus reg * 1/2 (||e_u^0||^2
  + ||e_i^0||^2 + ||e_j^0||^2) / B on the batch's ego embeddings, as LightGCN's code (``weight_decay``).
- Init: N(0, 0.1^2) (LightGCN's PyTorch code); K = 0 layers is BPR-MF with the same loss.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.tasks.ranking import UserItems


@dataclass(frozen=True)
class LightGCNConfig:
    """The paper's defaults: 64 dimensions, 3 layers, L2 1e-4 (Adam lr 1e-3, batch 2048, 1000 epochs in
    `lightfmp.topk.config.LIGHTGCN_FIT`; DSL trains with lr 1e-2 and batch 1024)."""

    dim: int = 64
    layers: int = 3
    reg: float = 1e-4
    init_std: float = 0.1


def normalized_adjacency(train: UserItems, num_items: int) -> Tensor:
    """Â = D^-1/2 A D^-1/2 of the bipartite graph (users 0..U-1, items U..U+I-1), sparse CSR float32."""
    nu = train.num_users
    u, i = train.pairs(np.arange(nu))
    rows = np.concatenate([u, i + nu])
    cols = np.concatenate([i + nu, u])
    deg = np.bincount(rows, minlength=nu + num_items).astype(np.float64)
    inv_sqrt = np.zeros_like(deg)
    inv_sqrt[deg > 0] = deg[deg > 0] ** -0.5
    vals = (inv_sqrt[rows] * inv_sqrt[cols]).astype(np.float32)
    coo = torch.sparse_coo_tensor(torch.from_numpy(np.stack([rows, cols])), torch.from_numpy(vals),
                                  (nu + num_items, nu + num_items), check_invariants=True).coalesce()
    with warnings.catch_warnings():  # "CSR support is in beta": the CSR matmul is what we rely on, and it is tested
        warnings.simplefilter("ignore", UserWarning)
        return coo.to_sparse_csr()


class SymmetricSpMM(torch.autograd.Function):
    """``Â @ E`` for a symmetric sparse Â that needs no gradient: backward is ``Â @ grad``."""

    @staticmethod
    def forward(ctx, adjacency: Tensor, e: Tensor) -> Tensor:  # type: ignore[override]
        ctx.adjacency = adjacency
        return torch.sparse.mm(adjacency, e)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:  # type: ignore[override]
        return None, torch.sparse.mm(ctx.adjacency, grad.contiguous())


class LightGCN(nn.Module):
    """LightGCN over a fixed training graph.

    Args:
        train: the training interactions that define the graph (users = ``train.num_users``).
        num_items: the item-id space size.
        cfg: dimensions, layers, L2 weight.

    Shape: ``score_users(users [B]) -> [B, num_items]``; ``bpr_loss(users, pos, neg [B]) -> scalar``.

    Example: ``LightGCN(data.train, data.num_items).score_users(torch.arange(4))``.
    """

    def __init__(self, train: UserItems, num_items: int, cfg: LightGCNConfig = LightGCNConfig()) -> None:
        super().__init__()
        self.cfg, self.num_users, self.num_items = cfg, train.num_users, int(num_items)
        self.embedding = nn.Embedding(self.num_users + self.num_items, cfg.dim)
        nn.init.normal_(self.embedding.weight, std=cfg.init_std)
        self.register_buffer("adjacency", normalized_adjacency(train, num_items), persistent=False)

    def propagate(self) -> tuple[Tensor, Tensor]:
        """Final user [U, D] and item [I, D] embeddings: the mean of layers 0..K."""
        e = self.embedding.weight
        total = e
        for _ in range(self.cfg.layers):
            e = SymmetricSpMM.apply(self.adjacency, e)
            total = total + e
        final = total / (self.cfg.layers + 1)
        return final[:self.num_users], final[self.num_users:]

    def score_users(self, users: Tensor) -> Tensor:
        user_e, item_e = self._propagated_for_scoring() if not torch.is_grad_enabled() else self.propagate()
        return user_e[users] @ item_e.T

    def _propagated_for_scoring(self) -> tuple[Tensor, Tensor]:
        """Without gradients, one propagation serves every batch of users until the weights change
        (an optimizer step or a state load bumps the tensor's version counter)."""
        key = (self.embedding.weight._version, self.embedding.weight.data_ptr())
        if getattr(self, "_cache_key", None) != key:
            self._cache, self._cache_key = self.propagate(), key
        return self._cache

    def bpr_loss(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        user_e, item_e = self.propagate()
        u, p, n = user_e[users], item_e[pos], item_e[neg]
        loss = nn.functional.softplus((u * n).sum(1) - (u * p).sum(1)).mean()
        if self.cfg.reg > 0:
            ego = self.embedding.weight
            sq = ego[users].square().sum() + ego[pos + self.num_users].square().sum() \
                + ego[neg + self.num_users].square().sum()
            loss = loss + self.cfg.reg * 0.5 * sq / users.shape[0]
        return loss
