"""Ranking metrics for the top-K and next-item tasks: full ranking over every item, batched over users.

Definitions (those of LightGCN's and DSL's evaluation code for top-K, of SASRec/PruneRec for next-item):

- Recall@K = |top-K ∩ truth| / |truth|; NDCG@K = DCG@K / IDCG@K with DCG@K = sum over hits at 0-based
  position p of 1 / log2(p + 2), IDCG@K the DCG of min(K, |truth|) hits at the top. Users without a
  held-out item are left out of the mean. Items the user met in training (and validation, when scoring
  test) are excluded from the ranking (their score set to -inf), the usual full-ranking protocol.
- A single target (next-item, NeuMF's leave-one-out): its rank r = the number of candidates scored strictly
  higher (ties counted in the target's favour; choice: scores of a trained model rarely tie, and this is
  what ``(scores > target).sum()`` in SASRec-style code computes); HR@K = [r < K], NDCG@K = [r < K] / log2(r + 2).

No Python loop over users or items: one ``topk`` per batch of users, hits gathered from a dense boolean
truth matrix of that batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class UserItems:
    """Items per user in CSR form: user u's items are ``items[indptr[u]:indptr[u + 1]]`` (int64)."""

    indptr: np.ndarray
    items: np.ndarray

    @classmethod
    def from_pairs(cls, users: np.ndarray, items: np.ndarray, num_users: int) -> "UserItems":
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        order = np.argsort(users, kind="stable")
        counts = np.bincount(users, minlength=num_users)
        return cls(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), items[order])

    @property
    def num_users(self) -> int:
        return len(self.indptr) - 1

    def counts(self, users: np.ndarray) -> np.ndarray:
        return self.indptr[users + 1] - self.indptr[users]

    def pairs(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position of the user in ``users``, item) for every item of those users, vectorised."""
        users = np.asarray(users, dtype=np.int64)
        counts = self.counts(users)
        rows = np.repeat(np.arange(len(users)), counts)
        starts = np.repeat(self.indptr[users], counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return rows, self.items[starts + offsets]


def _mask(scores: Tensor, lists: Sequence[UserItems], users: np.ndarray) -> None:
    for ui in lists:
        r, c = ui.pairs(users)
        scores[torch.from_numpy(r).to(scores.device), torch.from_numpy(c).to(scores.device)] = -torch.inf


def recall_ndcg(scores: Tensor, truth: UserItems, users: np.ndarray, ks: Sequence[int],
                exclude: Sequence[UserItems] = ()) -> dict[str, Tensor]:
    """Per-user Recall@K and NDCG@K of one batch: ``scores`` [B, I] for ``users`` (B ids); NaN for a user
    with no truth item. ``exclude``'s items are masked out first (in place on ``scores``)."""
    _mask(scores, exclude, users)
    kmax = min(max(ks), scores.shape[1])
    top = torch.topk(scores, kmax, dim=1).indices
    is_truth = torch.zeros_like(scores, dtype=torch.bool)
    r, c = truth.pairs(users)
    is_truth[torch.from_numpy(r).to(scores.device), torch.from_numpy(c).to(scores.device)] = True
    hits = is_truth.gather(1, top).float()                      # [B, kmax]
    n_truth = torch.from_numpy(truth.counts(users)).to(scores.device).float()
    discount = 1.0 / torch.log2(torch.arange(kmax, device=scores.device, dtype=torch.float32) + 2.0)
    out: dict[str, Tensor] = {}
    nan = torch.full_like(n_truth, torch.nan)
    for k in ks:
        k_ = min(k, kmax)
        dcg = (hits[:, :k_] * discount[:k_]).sum(1)
        ideal = torch.cumsum(discount, 0)[(torch.clamp(n_truth, max=k_) - 1).clamp(min=0).long()]
        has = n_truth > 0
        out[f"recall@{k}"] = torch.where(has, hits[:, :k_].sum(1) / n_truth.clamp(min=1), nan)
        out[f"ndcg@{k}"] = torch.where(has, dcg / ideal, nan)
    return out


def rank_of_target(scores: Tensor, target: Tensor) -> Tensor:
    """0-based rank of each row's target column: the number of columns scored strictly higher."""
    t = scores.gather(1, target.view(-1, 1))
    return (scores > t).sum(1)


def hr_ndcg(rank: Tensor, ks: Sequence[int]) -> dict[str, Tensor]:
    """Per-row HR@K and NDCG@K from 0-based target ranks."""
    out: dict[str, Tensor] = {}
    for k in ks:
        hit = (rank < k).float()
        out[f"hr@{k}"] = hit
        out[f"ndcg@{k}"] = hit / torch.log2(rank.float() + 2.0)
    return out


def mean_metrics(parts: Sequence[dict[str, Tensor]]) -> dict[str, float]:
    """Batch results -> one mean per metric over every row that has it (NaN rows left out)."""
    if not parts:
        return {}
    out = {}
    for k in parts[0]:
        v = torch.cat([p[k].float().cpu() for p in parts])
        v = v[~torch.isnan(v)]
        out[k] = float(v.mean()) if v.numel() else float("nan")
    return out


@torch.no_grad()
def full_ranking(score_users: Callable[[Tensor], Tensor], users: np.ndarray, truth: UserItems,
                 ks: Sequence[int], exclude: Sequence[UserItems] = (), batch_size: int = 1024,
                 device: str = "cpu") -> dict[str, float]:
    """Top-K evaluation: ``score_users(user ids [B]) -> scores [B, I]`` over every item, batched over
    ``users`` (those with at least one truth item are scored); Recall@K and NDCG@K means."""
    users = np.asarray(users, dtype=np.int64)
    users = users[truth.counts(users) > 0]
    parts = []
    for i in range(0, len(users), batch_size):
        ub = users[i:i + batch_size]
        scores = score_users(torch.from_numpy(ub).to(device)).float()
        parts.append(recall_ndcg(scores, truth, ub, ks, exclude))
    return mean_metrics(parts)
