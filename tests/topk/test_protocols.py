"""MultVAE's strong generalisation and NeuMF's leave-one-out: disjoint, seeded, as their papers' code."""
from __future__ import annotations

import numpy as np
import pytest

from lightfmp.topk.data import read_movielens_100k
from lightfmp.topk.protocols import leave_one_out, strong_generalisation
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def log():
    return read_movielens_100k(shared_path("movielens_100k"))


def _per_user(ui, u):
    return set(ui.items[ui.indptr[u]:ui.indptr[u + 1]].tolist())


def test_strong_generalisation_holds_out_disjoint_users(log) -> None:
    sg = strong_generalisation(log)
    users = np.arange(sg.num_users)
    valid_users = np.flatnonzero(sg.valid.counts(users) > 0)
    test_users = np.flatnonzero(sg.test.counts(users) > 0)
    assert len(valid_users) == len(test_users) == 94            # 10% of 943 each
    assert not set(valid_users) & set(test_users)
    assert not set(sg.fit_users) & (set(valid_users) | set(test_users))
    assert len(sg.fit_users) == 943 - 2 * 94
    for u in np.concatenate([valid_users[:10], test_users[:10]]):
        fold_in, held = _per_user(sg.train, u), _per_user(sg.valid, u) | _per_user(sg.test, u)
        assert not fold_in & held
        n = len(fold_in) + len(held)
        assert len(held) == int(0.2 * n)                          # Liang et al.: int(test_prop * n) held out
    again = strong_generalisation(log)
    assert np.array_equal(again.test.items, sg.test.items) and np.array_equal(again.fit_users, sg.fit_users)
    assert not np.array_equal(strong_generalisation(log, seed=1).fit_users, sg.fit_users)


def test_strong_generalisation_drops_items_training_users_never_saw(log) -> None:
    sg = strong_generalisation(log)
    train_items = set(sg.train.pairs(sg.fit_users)[1].tolist())
    assert set(sg.test.items.tolist()) <= train_items and set(sg.valid.items.tolist()) <= train_items


def test_leave_one_out_takes_the_latest_interactions(log) -> None:
    loo = leave_one_out(log)
    assert (loo.test_item >= 0).all() and (loo.valid_item >= 0).all()
    for u in range(0, 943, 97):                                   # a naive check on a spread of users
        mine = np.flatnonzero(log.users == u)
        t = log.times[mine]
        assert log.times[mine][log.items[mine] == loo.test_item[u]][0] == t.max()
        assert log.times[mine][log.items[mine] == loo.valid_item[u]][0] == np.sort(t)[-2]
        train = _per_user(loo.train, u)
        assert len(train) == len(mine) - 2
        assert loo.test_item[u] not in train and loo.valid_item[u] not in train


def test_leave_one_out_negatives_are_fixed_unique_and_never_positive(log) -> None:
    loo = leave_one_out(log)
    assert loo.negatives.shape == (943, 100)
    assert all(len(set(row)) == 100 for row in loo.negatives.tolist())
    key_all = set((log.users * log.num_items + log.items).tolist())
    key_neg = (np.repeat(np.arange(943), 100) * log.num_items + loo.negatives.reshape(-1)).tolist()
    assert not key_all & set(key_neg)
    assert np.array_equal(leave_one_out(log).negatives, loo.negatives)
    assert not np.array_equal(leave_one_out(log, seed=5).negatives, loo.negatives)
