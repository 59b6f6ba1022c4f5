"""LightGCN's sparse propagation against a dense-matrix computation, values and gradients."""
from __future__ import annotations

import numpy as np
import torch

from lightfmp.tasks.ranking import UserItems
from lightfmp.topk.lightgcn import LightGCN, LightGCNConfig


def _tiny():
    # 4 users, 5 items; item 4 has no interaction (degree 0: its row of Â is 0)
    users = np.array([0, 0, 1, 1, 1, 2, 3, 3])
    items = np.array([0, 1, 1, 2, 3, 0, 2, 3])
    return UserItems.from_pairs(users, items, 4), users, items


def _dense_reference(model: LightGCN, users, items, layers: int):
    nu, ni = 4, 5
    A = torch.zeros(nu + ni, nu + ni, dtype=torch.float64)
    A[users, items + nu] = 1.0
    A[items + nu, users] = 1.0
    d = A.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    A_hat = inv[:, None] * A * inv[None, :]
    e0 = model.embedding.weight.detach().double().clone().requires_grad_()
    e, total = e0, e0
    for _ in range(layers):
        e = A_hat @ e
        total = total + e
    final = total / (layers + 1)
    return e0, final[:nu], final[nu:]


def test_propagation_equals_dense_matrix_powers() -> None:
    train, users, items = _tiny()
    torch.manual_seed(0)
    model = LightGCN(train, 5, LightGCNConfig(dim=8, layers=3))
    _, ref_u, ref_i = _dense_reference(model, users, items, 3)
    u, i = model.propagate()
    assert torch.allclose(u.double(), ref_u, atol=1e-6) and torch.allclose(i.double(), ref_i, atol=1e-6)
    assert torch.allclose(i[4], torch.zeros(8) + model.embedding.weight[8] / 4)  # isolated item: only e^(0)
    with torch.no_grad():
        scores = model.score_users(torch.arange(4))
    assert torch.allclose(scores.double(), ref_u @ ref_i.T, atol=1e-5)


def test_bpr_loss_and_its_gradient_equal_the_dense_computation() -> None:
    train, users, items = _tiny()
    torch.manual_seed(1)
    cfg = LightGCNConfig(dim=6, layers=2, reg=1e-2)
    model = LightGCN(train, 5, cfg)
    bu, bp, bn = torch.tensor([0, 1, 3]), torch.tensor([1, 2, 3]), torch.tensor([4, 0, 1])
    loss = model.bpr_loss(bu, bp, bn)
    loss.backward()
    e0, ref_u, ref_i = _dense_reference(model, users, items, 2)
    u, p, n = ref_u[bu], ref_i[bp], ref_i[bn]
    ref = torch.nn.functional.softplus((u * n).sum(1) - (u * p).sum(1)).mean()
    ref = ref + cfg.reg * 0.5 * (e0[bu].square().sum() + e0[bp + 4].square().sum() + e0[bn + 4].square().sum()) / 3
    ref.backward()
    assert abs(loss.item() - ref.item()) < 1e-6
    assert torch.allclose(model.embedding.weight.grad.double(), e0.grad, atol=1e-6)


def test_zero_layers_is_matrix_factorisation() -> None:
    train, _, _ = _tiny()
    model = LightGCN(train, 5, LightGCNConfig(dim=4, layers=0))
    w = model.embedding.weight
    with torch.no_grad():
        assert torch.allclose(model.score_users(torch.tensor([2])), w[2:3] @ w[4:].T)


def test_scoring_cache_follows_the_weights() -> None:
    train, _, _ = _tiny()
    model = LightGCN(train, 5, LightGCNConfig(dim=4, layers=2))
    with torch.no_grad():
        before = model.score_users(torch.arange(4))
        model.embedding.weight.mul_(2.0)
        after = model.score_users(torch.arange(4))
    assert torch.allclose(after, 4 * before, atol=1e-6)
