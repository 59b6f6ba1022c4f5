"""Fixtures for the top-K tests: a planted-preference synthetic log and the real loaders' data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lightfmp.topk.data import Interactions, random_split


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on the shared 2-core machine OpenMP spin-waiting makes 2 threads far slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def planted_log(num_users: int = 300, num_items: int = 200, groups: int = 5, per_user: int = 20,
                seed: int = 0) -> Interactions:
    """Users in ``groups`` taste groups; each group likes a disjoint block of items and a user draws
    ``per_user`` distinct items from its group's block (timestamps random). A model that learns the
    groups ranks the rest of the block first: Recall@20 far above the random 20 / num_items."""
    rng = np.random.default_rng(seed)
    block = num_items // groups
    group = rng.integers(0, groups, num_users)
    picks = np.argsort(rng.random((num_users, block)), axis=1)[:, :per_user]       # distinct per user
    items = (group[:, None] * block + picks).reshape(-1)
    users = np.repeat(np.arange(num_users), per_user)
    return Interactions(users, items, num_users, num_items, times=rng.integers(0, 10**6, len(users)), name="planted")


@pytest.fixture(scope="module")
def planted():
    return random_split(planted_log(), seed=1)
