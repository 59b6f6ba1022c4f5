"""MultVAE and NeuMF shapes and losses; every backbone recovers a planted preference (Recall@20 far
above random) on synthetic data whose truth is known."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lightfmp.topk import build_topk_model, evaluate_topk, fit_topk, paper_fit_config
from lightfmp.topk.multvae import MultVAE, MultVAEConfig, dense_rows
from lightfmp.topk.neumf import NeuMF


def test_multvae_shapes_and_prediction_is_deterministic(planted) -> None:
    model = MultVAE(planted.train, planted.num_items, MultVAEConfig(hidden=32, latent=8))
    x = dense_rows(planted.train, np.arange(5), planted.num_items)
    logits, mu, logvar = model(x)
    assert logits.shape == (5, planted.num_items) and mu.shape == logvar.shape == (5, 8)
    model.eval()
    a, b = model.score_users(torch.arange(5)), model.score_users(torch.arange(5))
    assert torch.equal(a, b) and a.shape == (5, planted.num_items)
    assert torch.equal(x.sum(1), torch.from_numpy(planted.train.counts(np.arange(5))).float())


def test_multvae_kl_annealing_follows_the_paper() -> None:
    from lightfmp.tasks.ranking import UserItems

    model = MultVAE(UserItems.from_pairs(np.array([0]), np.array([0]), 1), 3, MultVAEConfig(hidden=4, latent=2))
    assert model.beta(0) == 0.0 and model.beta(100_000) == pytest.approx(0.2)
    assert model.beta(20_000) == pytest.approx(0.1) and model.beta(10**7) == 0.2


def test_neumf_shapes() -> None:
    model = NeuMF(7, 11)
    s = model.score(torch.tensor([0, 3, 6]), torch.tensor([1, 2, 10]))
    assert s.shape == (3,)
    model.eval()
    full = model.score_users(torch.tensor([0, 3]))
    assert full.shape == (2, 11)
    assert torch.allclose(full[1, 2], model.score(torch.tensor([3]), torch.tensor([2]))[0])


@pytest.mark.parametrize("name,kw", [
    ("lightgcn", dict(epochs=6, lr=1e-2, batch_size=512)),
    ("bpr-mf", dict(epochs=6, lr=1e-2, batch_size=512)),
    ("multvae", dict(epochs=12, lr=3e-3, batch_size=32)),
    ("neumf", dict(epochs=4, lr=1e-2, batch_size=512)),
])
def test_planted_preference_is_recovered_and_the_loss_decreases(planted, name, kw) -> None:
    model = build_topk_model(name, planted, seed=0)
    fit = fit_topk(model, planted, paper_fit_config(name, eval_every=100, patience=100, **kw))
    losses = [h["loss"] for h in fit.history]
    assert losses[-1] < 0.9 * losses[0], losses
    test = evaluate_topk(model, planted, "test")
    random_recall = 20 / (planted.num_items - 18)      # about 0.11: 20 picks among the unseen items
    assert test["recall@20"] > 0.5 > 4 * random_recall, test


def test_seeded_build_is_reproducible_and_leaves_the_global_generator_alone(planted) -> None:
    state = torch.random.get_rng_state()
    a, b = build_topk_model("neumf", planted, seed=3), build_topk_model("neumf", planted, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
