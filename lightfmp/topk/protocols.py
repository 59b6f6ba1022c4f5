"""The two other evaluation protocols DSL runs on implicit feedback, built from an `Interactions` log.

- `strong_generalisation`: MultVAE's protocol (Liang et al., "Variational Autoencoders for Collaborative
  Filtering", WWW 2018; their notebook's ``split_train_test_proportion``, as in DSL's ``MultVAE/`` data).
  Users are split into disjoint train / validation / test users (a seeded permutation, seed 98765 as
  theirs). Training users' interactions are all training rows. A held-out user's interactions are split
  80/20 into fold-in and held-out items (held-out = int(0.2 n) random items, users with fewer than 5
  interactions keep all as fold-in, as their code). Interactions with items no training user has are
  dropped from held-out users (their ``unique_sid`` filter; the id space is kept). The result is an
  `InteractionData` whose ``train`` holds the training users' rows plus the held-out users' fold-in
  rows, ``fit_users`` the training users only (the model never trains on a held-out user), ``valid``
  / ``test`` the validation / test users' held-out items. Evaluation then ranks every item, fold-in
  items excluded, exactly their protocol.
- `leave_one_out`: NeuMF's protocol (He et al., "Neural Collaborative Filtering", WWW 2017, and DSL's
  ``NeuMF/``): each user's latest interaction is test, the one before validation (ties in time, and
  logs without times, ordered by a seeded random key); users with fewer than 3 interactions keep all
  for training. 100 evaluation negatives per user are drawn once, seeded, uniformly among the items the
  user never interacted with (no duplicates); validation and test rank their target against the same
  100. Training negatives are **fresh** each epoch (`lightfmp.topk.batches`): DSL's code trains on the
  100 evaluation negatives, a leak we do not repeat.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lightfmp.tasks.ranking import UserItems
from lightfmp.topk.data import InteractionData, Interactions, rank_within_user, user_items
from lightfmp.topk.sampling import PositiveSet, sample_unique_negatives

STRONG_SEED = 98765
LOO_SEED = 2017


def strong_generalisation(log: Interactions, heldout_users: float = 0.1, seed: int = STRONG_SEED,
                          heldout_items: float = 0.2, min_heldout_user_items: int = 5) -> InteractionData:
    """MultVAE's strong-generalisation split (module docstring): round(heldout_users U) validation users
    and as many test users; int(heldout_items n) held-out items each (Liang et al.'s ``test_prop``)."""
    rng = np.random.default_rng(seed)
    nu = log.num_users
    n_held = int(round(heldout_users * nu))
    perm = rng.permutation(nu)
    role = np.zeros(nu, dtype=np.int8)                      # 0 train, 1 validation, 2 test user
    role[perm[nu - 2 * n_held:nu - n_held]] = 1
    role[perm[nu - n_held:]] = 2
    r = role[log.users]
    seen_in_train = np.zeros(log.num_items, dtype=bool)
    seen_in_train[log.items[r == 0]] = True
    kept = (r == 0) | seen_in_train[log.items]
    users, items, r = log.users[kept], log.items[kept], r[kept]
    rank, n = rank_within_user(users, rng.random(len(users)))
    n_out = np.where(n >= min_heldout_user_items, (heldout_items * n).astype(np.int64), 0)
    heldout = (r > 0) & (rank < n_out)
    train = ~heldout
    name = f"strong-generalisation-{round(100 * (1 - heldout_items))}-{round(100 * heldout_items)}"
    return InteractionData(nu, log.num_items, user_items(users[train], items[train], nu),
                           user_items(users[heldout & (r == 1)], items[heldout & (r == 1)], nu),
                           user_items(users[heldout & (r == 2)], items[heldout & (r == 2)], nu),
                           protocol=name, seed=seed, fit_users=np.flatnonzero(role == 0).astype(np.int64), name=log.name)


@dataclass(frozen=True)
class LeaveOneOutData:
    """NeuMF's leave-one-out split (module docstring).

    Attributes:
        train: every user's training items.
        valid_item, test_item: int64 [U], the held-out item per user (-1 when the user has none).
        negatives: int64 [U, N], each user's fixed evaluation negatives (N = 100).
    """

    num_users: int
    num_items: int
    train: UserItems
    valid_item: np.ndarray
    test_item: np.ndarray
    negatives: np.ndarray
    protocol: str
    seed: int
    name: str = ""
    fit_users: np.ndarray | None = None
    task: str = field(default="topk", init=False)

    def training_users(self) -> np.ndarray:
        return np.arange(self.num_users, dtype=np.int64)

    def target(self, split: str) -> np.ndarray:
        return {"valid": self.valid_item, "test": self.test_item}[split]


def leave_one_out(log: Interactions, num_negatives: int = 100, seed: int = LOO_SEED) -> LeaveOneOutData:
    """NeuMF's leave-one-out split with ``num_negatives`` fixed evaluation negatives per user (module docstring)."""
    rng = np.random.default_rng(seed)
    tie = rng.random(len(log))
    # order by time (descending: position 0 = latest), ties by the random key
    key = tie if log.times is None else np.lexsort((tie, log.times)).argsort().astype(np.float64)
    rank, n = rank_within_user(log.users, -key)
    eligible = n >= 3
    is_test, is_valid = eligible & (rank == 0), eligible & (rank == 1)
    train = ~(is_test | is_valid)
    nu = log.num_users
    valid_item = np.full(nu, -1, dtype=np.int64)
    test_item = np.full(nu, -1, dtype=np.int64)
    valid_item[log.users[is_valid]] = log.items[is_valid]
    test_item[log.users[is_test]] = log.items[is_test]
    seen = PositiveSet(user_items(log.users, log.items, nu), log.num_items)
    negatives = sample_unique_negatives(seen, num_negatives, rng)
    return LeaveOneOutData(nu, log.num_items, user_items(log.users[train], log.items[train], nu),
                           valid_item, test_item, negatives, protocol=f"leave-one-out+{num_negatives}neg",
                           seed=seed, name=log.name)
