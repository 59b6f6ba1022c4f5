"""Uniform negative sampling with rejection of a user's positives, vectorised: each round redraws only
the rejected entries, so the Python loop runs over rounds (a handful), never over interactions."""
from __future__ import annotations

import numpy as np

from lightfmp.errors import InputError
from lightfmp.tasks.ranking import UserItems

MAX_ROUNDS = 10_000


class PositiveSet:
    """Membership test for (user, item) pairs: the sorted keys user * num_items + item of ``positives``."""

    def __init__(self, positives: UserItems, num_items: int) -> None:
        users, items = positives.pairs(np.arange(positives.num_users))
        self.num_items = int(num_items)
        self.keys = np.unique(users * self.num_items + items)
        self.per_user = np.bincount(users, minlength=positives.num_users) if len(users) else np.zeros(
            positives.num_users, dtype=np.int64)

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if len(self.keys) == 0:
            return np.zeros(len(users), dtype=bool)
        q = users * self.num_items + items
        pos = np.minimum(np.searchsorted(self.keys, q), len(self.keys) - 1)
        return self.keys[pos] == q


def sample_negatives(positives: PositiveSet, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform item per entry of ``users`` that the user has no positive for (with replacement across entries)."""
    users = np.asarray(users, dtype=np.int64)
    if np.any(positives.per_user[users] >= positives.num_items):
        raise InputError("a user has interacted with every item: no negative to sample")
    items = rng.integers(0, positives.num_items, len(users))
    bad = np.flatnonzero(positives.contains(users, items))
    for _ in range(MAX_ROUNDS):
        if len(bad) == 0:
            return items
        items[bad] = rng.integers(0, positives.num_items, len(bad))
        bad = bad[positives.contains(users[bad], items[bad])]
    raise RuntimeError("negative sampling did not converge")


def sample_unique_negatives(positives: PositiveSet, n: int, rng: np.random.Generator) -> np.ndarray:
    """int64 [U, n]: per user, n distinct uniform items the user has no positive for."""
    nu = len(positives.per_user)
    short = np.flatnonzero(positives.num_items - positives.per_user < n)
    if len(short):
        raise InputError(f"user {int(short[0])} has fewer than {n} items it never interacted with")
    users = np.repeat(np.arange(nu, dtype=np.int64), n)
    out = rng.integers(0, positives.num_items, (nu, n))
    for _ in range(MAX_ROUNDS):
        flat = out.reshape(-1)
        bad = positives.contains(users, flat).reshape(nu, n) | _later_duplicates(out)
        if not bad.any():
            return out
        out[bad] = rng.integers(0, positives.num_items, int(bad.sum()))
    raise RuntimeError("negative sampling did not converge")


def _later_duplicates(rows: np.ndarray) -> np.ndarray:
    """True where an entry repeats one earlier in its row (in the row's stable sorted order)."""
    order = np.argsort(rows, axis=1, kind="stable")
    s = np.take_along_axis(rows, order, axis=1)
    dup_sorted = np.zeros_like(s, dtype=bool)
    dup_sorted[:, 1:] = s[:, 1:] == s[:, :-1]
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return dup
