import pytest
import torch

from lightfmp.train import row_adam
from lightfmp.train.row_adam import RowAdam, coalesce_rows, row_scratch, sum_by_plan, sum_duplicate_rows


def _grad_step(W, opt, ids, scale):
    opt.zero_grad()
    e = torch.nn.functional.embedding(ids, W, sparse=not isinstance(opt, torch.optim.Adam))
    (e.pow(2).sum() + scale * e.sum()).backward()
    opt.step()


def test_equals_dense_adam_when_every_row_is_touched():
    torch.manual_seed(0)
    W1 = torch.nn.Parameter(torch.randn(6, 3))
    W2 = torch.nn.Parameter(W1.detach().clone())
    o1, o2 = RowAdam([W1], lr=1e-2), torch.optim.Adam([W2], lr=1e-2)
    for step in range(6):
        ids = torch.cat([torch.arange(6), torch.randint(0, 6, (10,))])  # all rows, with duplicates
        _grad_step(W1, o1, ids, step + 1)
        _grad_step(W2, o2, ids, step + 1)
        torch.testing.assert_close(W1, W2, rtol=1e-6, atol=1e-7)


def test_lazy_untouched_rows_and_state_stay_put_and_matches_sparse_adam():
    torch.manual_seed(1)
    W1 = torch.nn.Parameter(torch.randn(40, 4))
    W2 = torch.nn.Parameter(W1.detach().clone())
    o1, o2 = RowAdam([W1], lr=1e-2), torch.optim.SparseAdam([W2], lr=1e-2)
    for step in range(5):
        ids = torch.randint(0, 20, (64,))  # rows 20.. never touched
        _grad_step(W1, o1, ids, step)
        _grad_step(W2, o2, ids, step)
    # SparseAdam adds eps before the bias correction of v; RowAdam follows torch.optim.Adam.
    torch.testing.assert_close(W1, W2, rtol=0, atol=1e-4)
    before = W1.detach().clone()
    assert torch.equal(o1.state[W1]["exp_avg"][20:], torch.zeros(20, 4))
    _grad_step(W1, o1, torch.tensor([0, 0, 1]), 1.0)
    changed = (W1.detach() != before).any(1)
    assert changed[:2].all() and not changed[2:].any()
    assert not row_scratch(W1)[0].any()  # scratch mask reset


def test_refuses_dense_gradients():
    W = torch.nn.Parameter(torch.randn(3, 2))
    W.grad = torch.ones(3, 2)
    with pytest.raises(RuntimeError, match="sparse"):
        RowAdam([W]).step()


@pytest.mark.parametrize("way", ["mask", "sort", "chosen"])
@pytest.mark.parametrize("table_rows", [50, 5000])
def test_sum_duplicate_rows_equals_coalesce_and_leaves_the_mask_clean(table_rows, way):
    g = torch.Generator().manual_seed(3)
    idx = torch.randint(0, 40, (300,), generator=g) * (table_rows // 50)
    vals = torch.randn(300, 3, generator=g)
    touched, pos = torch.zeros(table_rows, dtype=torch.bool), torch.empty(table_rows, dtype=torch.long)
    fn = coalesce_rows if way == "chosen" else row_adam._WAYS[way]
    threads_before = torch.get_num_threads()
    rows, inverse, summed = fn(idx, vals, touched, pos)
    assert torch.equal(rows[inverse], idx)
    ref = torch.sparse_coo_tensor(idx.unsqueeze(0), vals, (table_rows, 3), check_invariants=True).coalesce()
    torch.testing.assert_close(rows, ref.indices()[0])
    torch.testing.assert_close(summed, ref.values())
    assert not touched.any()
    if way == "chosen":  # the timed choice is kept for this (table, size), and threads are restored
        assert row_adam._CHOSEN[(table_rows, idx.numel().bit_length())] in row_adam._WAYS
        assert torch.get_num_threads() == threads_before


def test_both_ways_sum_in_the_same_order():
    g = torch.Generator().manual_seed(4)
    idx = torch.randint(0, 500, (20_000,), generator=g)
    vals = torch.randn(20_000, 10, generator=g)
    touched, pos = torch.zeros(1000, dtype=torch.bool), torch.empty(1000, dtype=torch.long)
    (r1, i1, s1), (r2, i2, s2) = (row_adam._WAYS[w](idx, vals, touched, pos) for w in ("mask", "sort"))
    assert torch.equal(r1, r2) and torch.equal(i1, i2) and torch.equal(s1, s2)  # bitwise: the timed choice cannot change results
    assert torch.equal(sum_by_plan(r1, i1, vals), s1)  # a reused plan sums the same way
    assert torch.equal(sum_duplicate_rows(idx, vals, touched, pos)[1], s1)


def test_tables_read_with_the_same_ids_share_one_coalescing(monkeypatch):
    """An embedding and a linear table looked up with the same ids: one coalescing per step, and the
    updates equal those of one RowAdam per table (each coalescing its own gradient)."""
    torch.manual_seed(5)
    E, L = torch.nn.Parameter(torch.randn(300, 4)), torch.nn.Parameter(torch.randn(300, 1))
    E2, L2 = (torch.nn.Parameter(t.detach().clone()) for t in (E, L))
    shared, o2e, o2l = RowAdam([E, L], lr=1e-2), RowAdam([E2], lr=1e-2), RowAdam([L2], lr=1e-2)
    calls = []
    real = row_adam.coalesce_rows
    monkeypatch.setattr(row_adam, "coalesce_rows", lambda *a: calls.append(1) or real(*a))
    for step in range(4):
        ids = torch.randint(0, 300, (500,))
        for (e_w, l_w), opts in (((E, L), [shared]), ((E2, L2), [o2e, o2l])):
            for o in opts:
                o.zero_grad()
            out = torch.nn.functional.embedding(ids, e_w, sparse=True).sum(1) + \
                torch.nn.functional.embedding(ids, l_w, sparse=True).squeeze(1)
            (out.sin().sum() + step).backward()
            for o in opts:
                o.step()
    assert len(calls) == 4 + 8  # shared: one per step; separate optimizers: one per table and step
    assert torch.equal(E, E2) and torch.equal(L, L2)
