"""Masks: which tensors, exact counts, top-k against a sort, the cosine schedule."""
import math

import pytest
import torch

from lightfmp.models import ModelConfig, build_model
from lightfmp.sparse.masks import (active_count, erk_densities, global_magnitude_masks, magnitude_mask, random_mask,
                                   top_k_mask)
from lightfmp.sparse.masks import default_targets
from lightfmp.sparse.schedule import UpdateSchedule, cosine_rate


def test_default_targets_are_tables_and_hidden_linear_weights():
    model = build_model("widedeep", [5, 7], ModelConfig(embed_dim=3, hidden=(4, 2)))
    names = default_targets(model)
    assert "embedding.weight" in names and "linear.weight" in names
    linear = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert {f"{n}.weight" for n, m in linear.items() if m.out_features > 1} <= set(names)
    heads = {f"{n}.weight" for n, m in linear.items() if m.out_features == 1}
    assert heads and not heads & set(names)  # the score head stays dense
    assert heads <= set(default_targets(model, dense_heads=False))
    assert all(n.endswith(".weight") for n in names) and set(names) <= dict(model.named_parameters()).keys()


@pytest.mark.parametrize("k", [0, 1, 7, 50, 99, 100])
def test_top_k_mask_matches_a_sort(k):
    score = torch.randn(10, 10, generator=torch.Generator().manual_seed(k))
    want = torch.zeros(100, dtype=torch.bool)
    want[torch.argsort(score.reshape(-1), descending=True)[:k]] = True
    assert torch.equal(top_k_mask(score, k), want.view(10, 10))


def test_top_k_mask_breaks_ties_exactly_and_at_random():
    score = torch.tensor([3.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    assert top_k_mask(score, 3).tolist() == [True, True, True, False, False, False]  # lower index first
    picks = {tuple(top_k_mask(score, 3, torch.Generator().manual_seed(s)).tolist()) for s in range(30)}
    assert len(picks) > 1 and all(sum(p) == 3 and p[0] and not p[5] for p in picks)


def test_random_and_magnitude_masks_hold_the_exact_count():
    w = torch.randn(37, 11)
    for d in (0.01, 0.2, 0.5, 1.0):
        k = active_count(w.numel(), d)
        assert k == max(1, round(d * w.numel()))
        assert int(random_mask(w, d, torch.Generator().manual_seed(0)).sum()) == k
        m = magnitude_mask(w, d)
        assert int(m.sum()) == k and w.abs()[m].min() >= w.abs()[~m].max() if k < w.numel() else True


def test_global_magnitude_uses_one_threshold():
    small, large = torch.full((10,), 1e-4), torch.linspace(0.1, 1.0, 10)
    masks = global_magnitude_masks({"emb": small, "lin": large}, 0.5)
    assert int(masks["emb"].sum()) == 0 and int(masks["lin"].sum()) == 10


def test_cosine_schedule_endpoints_and_midpoint():
    assert cosine_rate(0, 1000) == pytest.approx(0.5)
    assert cosine_rate(1000, 1000) == pytest.approx(0.005)
    assert cosine_rate(500, 1000) == pytest.approx((0.5 + 0.005) / 2)
    assert cosine_rate(250, 1000) == pytest.approx(0.005 + 0.495 * (1 + math.cos(math.pi / 4)) / 2)
    rates = [cosine_rate(t, 1000) for t in range(0, 1001, 50)]
    assert all(a > b for a, b in zip(rates, rates[1:]))  # strictly decreasing


def test_update_schedule_due_every_interval_never_at_the_ends():
    s = UpdateSchedule(interval=10)
    assert [t for t in range(0, 51) if s.due(t, 50)] == [10, 20, 30, 40]
    with pytest.raises(ValueError):
        UpdateSchedule(interval=0)


def test_erk_keeps_the_total_and_favours_narrow_tensors():
    shapes = {"table": (5000, 10), "l1": (400, 80), "l2": (400, 400)}
    d = erk_densities(shapes, 0.2)
    numel = {n: s[0] * s[1] for n, s in shapes.items()}
    assert sum(d[n] * numel[n] for n in shapes) == pytest.approx(0.2 * sum(numel.values()))
    assert d["table"] > d["l1"] > d["l2"]
    eps = d["l2"] / (800 / 160000)  # density proportional to sum(shape) / prod(shape)
    assert d["l1"] == pytest.approx(eps * 480 / 32000)


def test_erk_caps_at_one_and_rescales_the_rest():
    d = erk_densities({"thin": (1000, 1), "sq": (100, 100)}, 0.5)
    assert d["thin"] == 1.0
    assert d["sq"] == pytest.approx((0.5 * 11000 - 1000) / 10000)
