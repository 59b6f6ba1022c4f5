"""DSL's prune-and-regrow on hand-made tensors: who is removed, who is regrown, the count kept."""
import torch

from lightfmp.sparse.dsl import dense_grad, prune_and_regrow, removal_count


def test_removal_count_is_ceil_of_rate_times_nnz():
    assert removal_count(10, 0.5) == 5 and removal_count(10, 0.21) == 3 and removal_count(7, 0.005) == 1
    assert removal_count(4, 1.0) == 4 and removal_count(0, 0.5) == 0


def test_smallest_magnitude_removed_largest_gradient_regrown():
    # 8 entries, 4 active; rate 0.5 -> remove ceil(2) = 2
    w = torch.tensor([0.9, -0.05, 0.0, 0.4, 0.0, -0.2, 0.0, 0.0])
    mask = torch.tensor([1, 1, 0, 1, 0, 1, 0, 0], dtype=torch.bool)
    g = torch.tensor([5.0, 0.0, 0.3, 9.0, -2.0, 0.0, 0.1, 1.5])
    ch = prune_and_regrow(w, mask, g, 0.5)
    # smallest |w| among active: index 1 (0.05), index 5 (0.2)
    assert ch.removed.nonzero().squeeze(1).tolist() == [1, 5]
    # largest |g| among inactive after death (2, 4, 6, 7 and the removed 1, 5): index 4 (2.0), index 7 (1.5)
    assert ch.grown.nonzero().squeeze(1).tolist() == [4, 7]
    assert ch.mask.nonzero().squeeze(1).tolist() == [0, 3, 4, 7]
    assert int(ch.mask.sum()) == int(mask.sum())


def test_a_just_removed_weight_can_come_back_unchanged():
    w = torch.tensor([0.9, 0.01, 0.0, 0.0])
    mask = torch.tensor([True, True, False, False])
    g = torch.tensor([0.0, 3.0, 1.0, 0.5])  # the removed entry has the largest gradient
    ch = prune_and_regrow(w, mask, g, 0.5)
    assert ch.mask.tolist() == [True, True, False, False]
    assert not ch.removed.any() and not ch.grown.any()  # net: nothing changes, so the weight is kept


def test_sparse_row_gradient_gives_the_dense_gradients_choice():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(50, 4, generator=gen)
    mask = torch.rand(50, 4, generator=gen) < 0.3
    w = w * mask
    idx = torch.tensor([3, 7, 3, 20, 41])
    vals = torch.randn(5, 4, generator=gen)
    sparse = torch.sparse_coo_tensor(idx.unsqueeze(0), vals, (50, 4), check_invariants=True)
    dense = torch.zeros(50, 4).index_add_(0, idx, vals)
    assert torch.equal(dense_grad(sparse, w), dense)
    a = prune_and_regrow(w, mask, sparse, 0.3)
    b = prune_and_regrow(w, mask, dense, 0.3)
    assert torch.equal(a.mask, b.mask)


def test_random_growth_keeps_the_count_and_only_grows_inactive():
    w = torch.randn(100)
    mask = torch.zeros(100, dtype=torch.bool)
    mask[:20] = True
    ch = prune_and_regrow(w * mask, mask, None, 0.5, growth="random", generator=torch.Generator().manual_seed(1))
    assert int(ch.mask.sum()) == 20 and int(ch.removed.sum()) == int(ch.grown.sum())
    assert not (ch.grown & mask).any()
