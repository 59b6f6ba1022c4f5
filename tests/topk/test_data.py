"""Loaders on the real files (counts as their SOURCE.md states) and the per-user splits."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from lightfmp.errors import InputError
from lightfmp.topk.data import (carve_validation, load_gowalla, load_movielens_100k, random_split, read_gowalla,
                                read_movielens_100k)
from tests.conftest import shared_path


def _keys(ui, num_items):
    u, i = ui.pairs(np.arange(ui.num_users))
    return u * num_items + i


def _assert_disjoint(data):
    tr, va, te = (_keys(data.split(s), data.num_items) for s in ("train", "valid", "test"))
    for a, b in ((tr, va), (tr, te), (va, te)):
        assert len(np.intersect1d(a, b)) == 0
    return tr, va, te


@pytest.fixture(scope="module")
def gowalla_logs():
    return read_gowalla(shared_path("gowalla"))


@pytest.fixture(scope="module")
def gowalla(gowalla_logs):
    return carve_validation(*gowalla_logs)


def test_load_gowalla_is_read_then_carve(gowalla) -> None:
    data = load_gowalla(shared_path("gowalla"))
    assert np.array_equal(data.valid.items, gowalla.valid.items) and np.array_equal(data.test.items, gowalla.test.items)


def test_gowalla_counts_match_lightgcn(gowalla) -> None:
    c = gowalla.counts()
    assert (gowalla.num_users, gowalla.num_items) == (29_858, 40_981)
    assert c["train"] + c["valid"] == 810_128 and c["test"] == 217_242
    # validation is about 10% of each user's train items, and every user keeps a train item
    assert 0.09 < c["valid"] / 810_128 < 0.11
    assert (gowalla.train.counts(np.arange(gowalla.num_users)) >= 1).all()
    assert gowalla.protocol == "lightgcn+valid10" and gowalla.task == "topk"


def test_gowalla_reader_matches_a_naive_parse(gowalla_logs) -> None:
    folder = shared_path("gowalla")
    _, test = gowalla_logs
    naive = []
    with gzip.open(folder / "test.txt.gz", "rt") as f:
        for line in f:
            ids = [int(t) for t in line.split()]
            naive += [(ids[0], i) for i in ids[1:]]
    assert sorted(zip(test.users.tolist(), test.items.tolist())) == sorted(naive)


def test_gowalla_validation_is_carved_from_train_and_seeded(gowalla_logs, gowalla) -> None:
    train, test = gowalla_logs
    tr, va, te = _assert_disjoint(gowalla)
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.sort(train.users * train.num_items + train.items))
    again = carve_validation(train, test)
    assert np.array_equal(again.valid.items, gowalla.valid.items)
    other = carve_validation(train, test, seed=7)
    assert not np.array_equal(other.valid.items, gowalla.valid.items)


def test_movielens_counts_and_split() -> None:
    folder = shared_path("movielens_100k")
    data = load_movielens_100k(folder)
    c = data.counts()
    assert (data.num_users, data.num_items) == (943, 1682) and sum(c.values()) == 100_000
    _assert_disjoint(data)
    users = np.arange(943)
    n = sum(data.split(s).counts(users) for s in ("train", "valid", "test"))
    assert (n >= 20).all()
    assert np.array_equal(data.test.counts(users), np.floor(0.1 * n + 0.5).astype(int))
    assert np.array_equal(data.valid.counts(users), np.floor(0.1 * n + 0.5).astype(int))
    same = load_movielens_100k(folder)
    assert np.array_equal(same.test.items, data.test.items)
    assert not np.array_equal(load_movielens_100k(folder, seed=3).test.items, data.test.items)
    liked = read_movielens_100k(folder, min_rating=4)
    raw = np.loadtxt(folder / "u.data", dtype=np.int64)
    assert len(liked) == int((raw[:, 2] >= 4).sum())


def test_random_split_keeps_a_train_item_for_tiny_users() -> None:
    from lightfmp.topk.data import Interactions

    users = np.array([0, 1, 1, 2, 2, 2])
    log = Interactions(users, np.array([0, 0, 1, 0, 1, 2]), 3, 3)
    data = random_split(log, seed=0, valid_fraction=0.4, test_fraction=0.4)
    assert (data.train.counts(np.arange(3)) >= 1).all()


def test_missing_file_is_a_one_line_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="u.data"):
        load_movielens_100k(tmp_path)
