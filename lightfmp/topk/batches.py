"""Training batches for the three objectives, re-iterable (`train_loop` runs one pass per epoch): every
pass reshuffles and draws **fresh** negatives, vectorised over the whole epoch, then slices tensors.

- `BPRBatches`: (user, positive, negative) triples, one per training interaction per epoch, the negative
  uniform among the user's non-training items (RecBole's and LightGCN's uniform sampler).
- `UserRowBatches`: MultVAE's dense binary rows of the fitted users, shuffled.
- `PointwiseBatches`: NeuMF's (user, item, label): every training positive and ``negatives`` fresh
  uniform negatives per positive (NCF's sampler), shuffled.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from lightfmp.tasks.ranking import UserItems
from lightfmp.topk.multvae import dense_rows
from lightfmp.topk.sampling import PositiveSet, sample_negatives


def _steps(n: int, batch_size: int) -> int:
    return max(1, -(-n // batch_size))


class BPRBatches:
    def __init__(self, train: UserItems, num_items: int, users: np.ndarray, batch_size: int,
                 rng: np.random.Generator, device: str | torch.device = "cpu") -> None:
        self.users, self.items = train.pairs(users)
        self.users = np.asarray(users, dtype=np.int64)[self.users]
        self.positives = PositiveSet(train, num_items)
        self.batch_size, self.rng, self.device = batch_size, rng, device

    def __len__(self) -> int:
        return _steps(len(self.users), self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        order = self.rng.permutation(len(self.users))
        u, p = self.users[order], self.items[order]
        n = sample_negatives(self.positives, u, self.rng)
        u, p, n = (torch.from_numpy(a).to(self.device) for a in (u, p, n))
        for i in range(0, len(u), self.batch_size):
            yield u[i:i + self.batch_size], p[i:i + self.batch_size], n[i:i + self.batch_size]


class UserRowBatches:
    def __init__(self, train: UserItems, num_items: int, users: np.ndarray, batch_size: int,
                 rng: np.random.Generator, device: str | torch.device = "cpu") -> None:
        self.train, self.num_items, self.users = train, num_items, np.asarray(users, dtype=np.int64)
        self.batch_size, self.rng, self.device = batch_size, rng, device

    def __len__(self) -> int:
        return _steps(len(self.users), self.batch_size)

    def __iter__(self) -> Iterator[Tensor]:
        users = self.users[self.rng.permutation(len(self.users))]
        for i in range(0, len(users), self.batch_size):
            yield dense_rows(self.train, users[i:i + self.batch_size], self.num_items, self.device)


class PointwiseBatches:
    def __init__(self, train: UserItems, num_items: int, users: np.ndarray, batch_size: int,
                 rng: np.random.Generator, negatives: int, device: str | torch.device = "cpu") -> None:
        rows, self.items = train.pairs(users)
        self.users = np.asarray(users, dtype=np.int64)[rows]
        self.positives = PositiveSet(train, num_items)
        self.negatives, self.batch_size, self.rng, self.device = negatives, batch_size, rng, device

    def __len__(self) -> int:
        return _steps(len(self.users) * (1 + self.negatives), self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        neg_users = np.repeat(self.users, self.negatives)
        users = np.concatenate([self.users, neg_users])
        items = np.concatenate([self.items, sample_negatives(self.positives, neg_users, self.rng)])
        labels = np.concatenate([np.ones(len(self.users), np.float32), np.zeros(len(neg_users), np.float32)])
        order = self.rng.permutation(len(users))
        u, it, y = (torch.from_numpy(a[order]).to(self.device) for a in (users, items, labels))
        for i in range(0, len(u), self.batch_size):
            yield u[i:i + self.batch_size], it[i:i + self.batch_size], y[i:i + self.batch_size]
