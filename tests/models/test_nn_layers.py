"""nn layers against naive loops over fields, pairs and channels (pytorch-fm test_layers style)."""
import itertools

import pytest
import torch

from lightfmp.nn import CIN, MLP, FactorizationMachine, FieldEmbedding, FieldLinear, InnerProduct

torch.set_default_dtype(torch.float32)


def _e(B=3, F=5, D=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, F, D, generator=g, dtype=torch.float64)


def test_fm_equals_double_loop_over_field_pairs():
    e = _e()
    B, F, _ = e.shape
    naive = torch.zeros(B, dtype=e.dtype)
    for i, j in itertools.combinations(range(F), 2):
        naive += (e[:, i] * e[:, j]).sum(-1)
    torch.testing.assert_close(FactorizationMachine()(e), naive)


def test_fm_is_not_the_flattened_formula():
    # Flattening before the square-of-sum pairs every scalar with every other: a different number.
    e = _e()
    flat = e.flatten(1)
    wrong = 0.5 * (flat.sum(1) ** 2 - (flat**2).sum(1))
    assert not torch.allclose(FactorizationMachine()(e), wrong)


def test_inner_product_equals_loop_in_row_major_pair_order():
    e = _e(F=6)
    B, F, _ = e.shape
    naive = torch.stack([(e[:, i] * e[:, j]).sum(-1) for i, j in itertools.combinations(range(F), 2)], 1)
    layer = InnerProduct(F)
    assert layer.num_pairs == F * (F - 1) // 2
    torch.testing.assert_close(layer(e), naive)


def _cin_naive(e, weights, split_half):
    """Lian et al. 2018 eq. 6 with explicit loops: X^k_h = sum_i sum_j W[h,i,j] X^{k-1}_i o X^0_j."""
    B, F, D = e.shape
    x0, prev, pooled = e, e, []
    for k, w in enumerate(weights):
        H, Hp, _ = w.shape
        out = torch.zeros(B, H, D, dtype=e.dtype)
        for h in range(H):
            for i in range(Hp):
                for j in range(F):
                    out[:, h] += w[h, i, j] * prev[:, i] * x0[:, j]
        if split_half and k < len(weights) - 1:
            prev, direct = out[:, : H // 2], out[:, H // 2 :]
        else:
            prev, direct = out, out
        pooled.append(direct.sum(-1))
    return torch.cat(pooled, 1)


@pytest.mark.parametrize("split_half", [False, True])
def test_cin_equals_naive_loop(split_half):
    e = _e(B=2, F=4, D=3)
    cin = CIN(4, (4, 2, 3), split_half=split_half).double()
    expected_dim = (2 + 1 + 3) if split_half else 9
    assert cin.out_dim == expected_dim
    out = cin(e)
    assert out.shape == (2, expected_dim)
    torch.testing.assert_close(out, _cin_naive(e, [w.detach() for w in cin.weights], split_half))


def test_field_embedding_adds_offsets_and_accepts_int32():
    emb = FieldEmbedding([3, 5, 2], dim=4)
    x = torch.tensor([[0, 4, 1], [2, 0, 0]])
    out = emb(x)
    rows = torch.tensor([[0, 3 + 4, 8 + 1], [2, 3, 8]])
    torch.testing.assert_close(out, emb.weight[rows])
    torch.testing.assert_close(emb(x.int()), out)
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        emb(x[:, :2])


def test_tables_remember_sum_of_squares_only_in_training_and_stay_copyable():
    import copy

    lin = FieldLinear([3, 4])
    with torch.no_grad():
        lin.weight.copy_(torch.arange(7.0).unsqueeze(1))
    x = torch.tensor([[1, 2], [1, 0]])  # rows 1 and 5, then 1 and 3: row 1 counted twice
    out = lin(x)
    assert out.shape == (2, 2) and float(lin.last_sq.detach()) == 1 + 25 + 1 + 9
    copy.deepcopy(lin)  # a non-leaf activation must not break copying
    lin.eval()
    lin(x)
    assert lin.last_sq is None
    lin.train()
    with torch.no_grad():
        lin(x)
    assert lin.last_sq is None


@pytest.mark.parametrize("sparse", [False, True])
def test_lookup_with_squares_gives_the_gradients_of_the_separate_penalty(sparse):
    """The fused node (lookup + sum of squares) must give the table the same gradient as the plain
    lookup with ``c * e.pow(2).sum()`` added to the loss, with and without the penalty, and with
    repeated ids (which a sparse gradient keeps uncoalesced)."""
    g = torch.Generator().manual_seed(0)
    emb = FieldEmbedding([5, 7, 3], dim=4, init_std=0.5)
    emb.sparse = sparse
    x = torch.randint(0, 3, (16, 3), generator=g)
    w = torch.randn(16, 3, 4, generator=g)
    for c in (0.0, 0.37):
        emb.weight.grad = None
        e = emb(x)
        ((e * w).sum() + c * emb.last_sq).backward()
        fused = emb.weight.grad.to_dense() if sparse else emb.weight.grad
        assert emb.weight.grad.is_sparse == sparse

        ref_w = emb.weight.detach().clone().requires_grad_(True)
        ref_e = torch.nn.functional.embedding(x + emb.offsets, ref_w)
        ((ref_e * w).sum() + c * ref_e.pow(2).sum()).backward()
        assert torch.allclose(fused, ref_w.grad, rtol=1e-6, atol=1e-6)
        assert torch.allclose(emb.last_sq, ref_e.pow(2).sum().detach(), rtol=1e-6)


def test_sparse_flag_gives_sparse_gradient():
    emb = FieldEmbedding([3, 5], dim=2)
    emb.sparse = True
    emb(torch.tensor([[1, 1]])).sum().backward()
    assert emb.weight.grad.is_sparse


def test_mlp_layout_and_validation():
    mlp = MLP(6, (5, 3), dropout=0.2, batch_norm=True)
    kinds = [type(m).__name__ for m in mlp.layers]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2
    assert mlp.out_dim == 3 and mlp.first is mlp.layers[0]
    assert mlp(torch.randn(4, 6)).shape == (4, 3)
    with pytest.raises(ValueError):
        MLP(6, ())


def test_cin_gradients_match_autograd_of_the_naive_formula():
    torch.manual_seed(0)
    cin = CIN(3, (4, 2)).double()
    e = _e(B=2, F=3, D=2).requires_grad_(True)
    gradcheck_ok = torch.autograd.gradcheck(lambda t: cin(t), (e,))
    assert gradcheck_ok
    g = torch.randn(2, cin.out_dim, dtype=torch.float64)
    (cin(e) * g).sum().backward()
    fast = [e.grad.clone()] + [w.grad.clone() for w in cin.weights]
    e.grad = None
    cin.zero_grad()
    (_cin_naive(e, list(cin.weights), False) * g).sum().backward()
    slow = [e.grad] + [w.grad for w in cin.weights]
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b)


def test_mlp_fused_linear_relu_equals_the_modules_forward_and_backward():
    """MLP.forward fuses each Linear + ReLU (`linear_relu`); values and every gradient must be the
    modules' own, including at exact zeros of the pre-activation (ReLU's gradient there is 0)."""
    from lightfmp.nn.layers import linear_relu

    torch.manual_seed(0)
    mlp = MLP(6, (5, 4)).double()
    x = torch.randn(7, 6, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        mlp.first.bias[0] = -float((x[0] @ mlp.first.weight[0]).detach())  # pre-activation exactly 0
    w = torch.randn(7, 4, dtype=torch.float64)
    (mlp(x) * w).sum().backward()
    fused = [x.grad.clone()] + [p.grad.clone() for p in mlp.parameters()]
    x.grad = None
    mlp.zero_grad()
    (mlp.layers(x) * w).sum().backward()  # nn.Sequential: Linear, ReLU, Linear, ReLU
    plain = [x.grad] + [p.grad for p in mlp.parameters()]
    assert torch.allclose(mlp(x), mlp.layers(x))
    for a, b in zip(fused, plain):
        assert torch.allclose(a, b, atol=1e-12)
    lin = torch.nn.Linear(6, 3).double()
    assert torch.autograd.gradcheck(lambda a, wt, bs: linear_relu(a, wt, bs),
                                    (x.detach().requires_grad_(), lin.weight, lin.bias))
