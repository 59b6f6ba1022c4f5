"""`fit_topk` / `evaluate_topk`: exclusions as the protocol says (against a naive loop), validation never
reads test, the best epoch is restored, the generic after-step hook, sampled ranking for leave-one-out."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from lightfmp.errors import InputError
from lightfmp.tasks.ranking import UserItems
from lightfmp.topk import build_topk_model, evaluate_topk, fit_topk, leave_one_out, paper_fit_config
from lightfmp.topk.train import TopKFit
from tests.topk.conftest import planted_log


class FixedScores(nn.Module):
    """A model whose scores are a fixed matrix."""

    def __init__(self, scores: torch.Tensor) -> None:
        super().__init__()
        self.scores = nn.Parameter(scores)

    def score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self.scores[users].detach().clone()


def _naive_recall(scores: np.ndarray, truth: UserItems, exclude: list[UserItems], k: int = 20) -> float:
    out = []
    for u in range(truth.num_users):
        t = set(truth.items[truth.indptr[u]:truth.indptr[u + 1]].tolist())
        if not t:
            continue
        seen = set().union(*(set(e.items[e.indptr[u]:e.indptr[u + 1]].tolist()) for e in exclude))
        top = [i for i in np.argsort(-scores[u], kind="stable") if i not in seen][:k]
        out.append(len(t & set(top)) / len(t))
    return float(np.mean(out))


def test_validation_excludes_train_and_test_excludes_train_and_valid(planted) -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((planted.num_users, planted.num_items)).astype(np.float32)
    model = FixedScores(torch.from_numpy(scores))
    valid = evaluate_topk(model, planted, "valid")
    test = evaluate_topk(model, planted, "test")
    assert valid["recall@20"] == pytest.approx(_naive_recall(scores, planted.valid, [planted.train]), abs=1e-6)
    assert test["recall@20"] == pytest.approx(_naive_recall(scores, planted.test, [planted.train, planted.valid]),
                                              abs=1e-6)


def test_validation_never_reads_test(planted) -> None:
    """Two data sets that differ only in test give the same training history and best epoch."""
    other_test = UserItems.from_pairs(np.arange(10), np.arange(10), planted.num_users)
    scrambled = replace(planted, test=other_test)
    fits: list[TopKFit] = []
    for data in (planted, scrambled):
        model = build_topk_model("bpr-mf", data, seed=0)
        fits.append(fit_topk(model, data, paper_fit_config("bpr-mf", epochs=3, lr=1e-2, batch_size=512)))
    assert fits[0].history == [dict(h, seconds=fits[0].history[i]["seconds"]) for i, h in enumerate(fits[1].history)]
    assert fits[0].best_epoch == fits[1].best_epoch and fits[0].best_metric == fits[1].best_metric


def test_best_epoch_is_restored_and_hook_sees_every_step(planted) -> None:
    calls: list[tuple[int, int]] = []
    model = build_topk_model("bpr-mf", planted)
    cfg = paper_fit_config("bpr-mf", epochs=4, lr=5e-2, batch_size=1024, eval_every=1, patience=10)
    fit = fit_topk(model, planted, cfg, after_step=lambda m, opt, step, total: calls.append((step, total)))
    steps = math.ceil(int(planted.train.indptr[-1]) / 1024)
    assert calls == [(s, 4 * steps) for s in range(1, 4 * steps + 1)]
    assert fit.epochs_run == 4 and len(fit.history) == 4
    best = max(h["valid_recall@20"] for h in fit.history)
    assert fit.best_metric == pytest.approx(best)
    assert evaluate_topk(model, planted, "valid")["recall@20"] == pytest.approx(best, abs=1e-6)
    assert fit.best_valid["recall@20"] == pytest.approx(best)


def test_early_stopping_stops_after_patience_validations(planted) -> None:
    model = build_topk_model("bpr-mf", planted)
    cfg = paper_fit_config("bpr-mf", epochs=30, lr=0.0, batch_size=2048, eval_every=1, patience=2)
    fit = fit_topk(model, planted, cfg)           # lr 0: nothing improves after the first validation
    assert fit.best_epoch == 1 and fit.epochs_run == 3


def test_leave_one_out_ranks_the_target_among_its_negatives() -> None:
    loo = leave_one_out(planted_log(num_users=60, num_items=200), num_negatives=30)
    # scores: the target's item id scored highest for even users, lowest for odd users
    scores = torch.zeros(loo.num_users, loo.num_items)
    users = torch.arange(loo.num_users)
    scores[users, torch.from_numpy(loo.test_item)] = torch.where(users % 2 == 0, 1.0, -1.0)
    metrics = evaluate_topk(FixedScores(scores), loo, "test")
    # evens: rank 0 (hit, NDCG 1); odds: rank 30 (> 20: miss)
    assert metrics["hr@20"] == pytest.approx(0.5) and metrics["ndcg@20"] == pytest.approx(0.5)
    assert metrics["recall@20"] == metrics["hr@20"]


def test_neumf_trains_on_leave_one_out() -> None:
    loo = leave_one_out(planted_log(num_users=120, num_items=100), num_negatives=50)
    model = build_topk_model("neumf", loo)
    fit = fit_topk(model, loo, paper_fit_config("neumf", epochs=3, lr=1e-2, eval_every=1))
    assert fit.best_valid["hr@20"] > 0.6          # random: 20 / 51


def test_bad_split_and_unknown_model_are_input_errors(planted) -> None:
    with pytest.raises(InputError, match="valid or test"):
        evaluate_topk(FixedScores(torch.zeros(planted.num_users, planted.num_items)), planted, "train")
    with pytest.raises(InputError, match="unknown top-K model"):
        build_topk_model("sasrec", planted)
