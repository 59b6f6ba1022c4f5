"""Ranking metrics against naive per-user loops, on random scores with ties excluded."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lightfmp.tasks import CTR, NEXT_ITEM, TOPK, task_of
from lightfmp.tasks.ranking import UserItems, full_ranking, hr_ndcg, rank_of_target, recall_ndcg


def _naive(scores: np.ndarray, truth: list[set[int]], seen: list[set[int]], k: int) -> tuple[float, float]:
    recalls, ndcgs = [], []
    for u, row in enumerate(scores):
        if not truth[u]:
            continue
        order = [i for i in np.argsort(-row, kind="stable") if i not in seen[u]][:k]
        hits = [1.0 if i in truth[u] else 0.0 for i in order]
        dcg = sum(h / math.log2(p + 2) for p, h in enumerate(hits))
        idcg = sum(1 / math.log2(p + 2) for p in range(min(k, len(truth[u]))))
        recalls.append(sum(hits) / len(truth[u]))
        ndcgs.append(dcg / idcg)
    return float(np.mean(recalls)), float(np.mean(ndcgs))


def test_full_ranking_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(0)
    U, I = 37, 50
    scores = rng.normal(size=(U, I)).astype(np.float32)
    truth = [set(rng.choice(I, size=rng.integers(0, 6), replace=False).tolist()) for _ in range(U)]
    seen = [set(rng.choice(I, size=rng.integers(0, 10), replace=False).tolist()) - truth[u] for u in range(U)]
    to_csr = lambda sets: UserItems.from_pairs(np.repeat(np.arange(U), [len(s) for s in sets]),  # noqa: E731
                                               np.array([i for s in sets for i in sorted(s)], dtype=np.int64), U)
    got = full_ranking(lambda u: torch.from_numpy(scores)[u].clone(), np.arange(U), to_csr(truth), (5, 20),
                       exclude=[to_csr(seen)], batch_size=8)
    for k in (5, 20):
        r, n = _naive(scores, truth, seen, k)
        assert got[f"recall@{k}"] == pytest.approx(r, abs=1e-6)
        assert got[f"ndcg@{k}"] == pytest.approx(n, abs=1e-6)


def test_a_perfect_ranking_scores_one_and_users_without_truth_are_left_out() -> None:
    truth = UserItems.from_pairs(np.array([0, 0, 2]), np.array([3, 1, 0]), 3)
    scores = torch.zeros(3, 5)
    scores[0, [1, 3]] = 1.0
    scores[2, 0] = 1.0
    out = recall_ndcg(scores, truth, np.arange(3), (2,))
    assert torch.isnan(out["recall@2"][1])
    assert out["recall@2"][[0, 2]].tolist() == [1.0, 1.0] and out["ndcg@2"][[0, 2]].tolist() == [1.0, 1.0]


def test_target_rank_hr_and_ndcg() -> None:
    scores = torch.tensor([[0.1, 0.9, 0.5], [0.7, 0.2, 0.3]])
    rank = rank_of_target(scores, torch.tensor([2, 0]))
    assert rank.tolist() == [1, 0]
    m = hr_ndcg(rank, (1, 2))
    assert m["hr@1"].tolist() == [0.0, 1.0] and m["hr@2"].tolist() == [1.0, 1.0]
    assert m["ndcg@2"].tolist() == pytest.approx([1 / math.log2(3), 1.0])


def test_tasks_name_their_metrics_and_data_names_its_task() -> None:
    assert CTR.select_on == "auc" and TOPK.select_on in TOPK.metrics and NEXT_ITEM.select_on in NEXT_ITEM.metrics
    assert TOPK.metric_names((10, 50)) == ("recall@10", "recall@50", "ndcg@10", "ndcg@50")
    assert task_of(object()) is CTR
    assert task_of(type("D", (), {"task": "topk"})()) is TOPK


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience() -> None:
    from lightfmp.train.early_stopping import EarlyStopping

    model = torch.nn.Linear(2, 1)
    es = EarlyStopping(patience=2)
    for epoch, score in enumerate([0.5, 0.7, float("nan"), 0.6], start=1):
        with torch.no_grad():
            model.bias.fill_(epoch)
        es.update(epoch, score, model)
    assert es.best_epoch == 2 and es.stopped
    es.restore(model)
    assert float(model.bias) == 2.0
