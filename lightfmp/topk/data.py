"""Implicit-feedback data for the top-K task: the interaction log, its train/valid/test split, the loaders.

`Interactions` is the raw log (user, item, optional time) with dense 0-based ids. `InteractionData` is one
split of it: train/valid/test as `UserItems` (CSR, items sorted within a user), the protocol's name and
seed. Other protocols of the same log (MultVAE's strong generalisation, NeuMF's leave-one-out) live in
`lightfmp.topk.protocols`. Everything is vectorised numpy: the only Python loop is over the lines of
Gowalla's files (one line per user), never over interactions.

Choices (documented here once):

- MovieLens 100K: **every rating is an interaction** (rating >= 1, i.e. implicit "watched and rated"),
  as RecBole's ml-100k and the LightGCN-style benchmarks use it; every user then has >= 20 interactions,
  so the per-user 80/10/10 split gives each user >= 2 validation and >= 2 test items. `min_rating=4`
  gives the "liked" variant (rating >= 4, MultVAE's > 3.5 threshold) instead.
- The per-user random split: each user's interactions are shuffled with one seeded key per interaction;
  the first round(0.1 n) are test, the next round(0.1 n) validation, the rest train (round half up).
- Gowalla: train.txt/test.txt are the exact LightGCN split (test untouched). Validation is carved from
  each user's train items: round(0.1 n) of them at random (seed 2020 by default), at most n - 1, so every
  user keeps at least one train item. LightGCN itself has no validation split (it picks epochs on test).
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lightfmp.errors import InputError
from lightfmp.tasks.ranking import UserItems

VALID_FRACTION = 0.1
TEST_FRACTION = 0.1
GOWALLA_VALID_SEED = 2020
MOVIELENS_SPLIT_SEED = 2020


@dataclass(frozen=True)
class Interactions:
    """An implicit-feedback log: parallel int64 arrays ``users``, ``items`` (0-based, dense), optional
    ``times`` (None when the source has no timestamps), and the id-space sizes."""

    users: np.ndarray
    items: np.ndarray
    num_users: int
    num_items: int
    times: np.ndarray | None = None
    name: str = ""

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class InteractionData:
    """One split of an implicit-feedback log for the top-K task.

    Attributes:
        num_users, num_items: id-space sizes (every split uses the same ids).
        train, valid, test: items per user (`UserItems`); a user may have none in a split.
        protocol: how the split was made (``random-80-10-10``, ``lightgcn+valid10``, ``strong-generalisation``).
        seed: the seed of the split's randomness.
        fit_users: the users whose train rows the model is fitted on; None = every user. Under strong
            generalisation the held-out users' train rows are their fold-in items only, read at scoring time.
        name: the data set's name.
    """

    num_users: int
    num_items: int
    train: UserItems
    valid: UserItems
    test: UserItems
    protocol: str
    seed: int
    fit_users: np.ndarray | None = None
    name: str = ""
    task: str = field(default="topk", init=False)

    def split(self, name: str) -> UserItems:
        if name not in ("train", "valid", "test"):
            raise InputError(f"unknown split {name!r}: expected train, valid or test")
        return getattr(self, name)

    def training_users(self) -> np.ndarray:
        return np.arange(self.num_users, dtype=np.int64) if self.fit_users is None else self.fit_users

    def counts(self) -> dict[str, int]:
        return {s: int(self.split(s).indptr[-1]) for s in ("train", "valid", "test")}


def user_items(users: np.ndarray, items: np.ndarray, num_users: int) -> UserItems:
    """CSR of (user, item) pairs with items sorted ascending within each user."""
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    order = np.argsort(users * (int(items.max(initial=0)) + 1) + items)  # one int64 sort: lexsort is 5x slower
    counts = np.bincount(users, minlength=num_users)
    return UserItems(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), items[order])


def rank_within_user(users: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every interaction: its 0-based position among its user's interactions ordered by ``keys``,
    and its user's interaction count."""
    order = np.argsort(keys, kind="stable")
    order = order[np.argsort(users[order], kind="stable")]            # by user, then key (lexsort is slower)
    counts = np.bincount(users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[users[order]]
    return rank, counts[users]


def round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def random_split(log: Interactions, seed: int = MOVIELENS_SPLIT_SEED, valid_fraction: float = VALID_FRACTION,
                 test_fraction: float = TEST_FRACTION) -> InteractionData:
    """Per-user random train/valid/test split (each user's test = round(test_fraction n) random items,
    validation = round(valid_fraction n) more, train the rest), seeded."""
    rng = np.random.default_rng(seed)
    rank, n = rank_within_user(log.users, rng.random(len(log)))
    n_test, n_valid = round_half_up(test_fraction * n), round_half_up(valid_fraction * n)
    n_valid = np.minimum(n_valid, np.maximum(n - n_test - 1, 0))  # keep one train item
    is_test, is_valid = rank < n_test, (rank >= n_test) & (rank < n_test + n_valid)
    is_train = ~(is_test | is_valid)
    shares = (1 - valid_fraction - test_fraction, valid_fraction, test_fraction)
    pct = "-".join(str(round(100 * x)) for x in shares)
    return InteractionData(log.num_users, log.num_items,
                           user_items(log.users[is_train], log.items[is_train], log.num_users),
                           user_items(log.users[is_valid], log.items[is_valid], log.num_users),
                           user_items(log.users[is_test], log.items[is_test], log.num_users),
                           protocol=f"random-{pct}", seed=seed, name=log.name)


# ---------------------------------------------------------------- MovieLens 100K

def read_movielens_100k(folder: str | Path, min_rating: int = 1) -> Interactions:
    """``u.data`` (user, item, rating, timestamp; TAB-separated, 1-based ids) -> the interactions with
    rating >= ``min_rating``, ids made 0-based (the full 943 x 1,682 id space is kept)."""
    path = Path(folder) / "u.data"
    if not path.is_file():
        raise InputError("MovieLens 100K's u.data not found", path)
    raw = np.loadtxt(path, dtype=np.int64, ndmin=2)
    if raw.shape[1] != 4:
        raise InputError(f"expected 4 TAB-separated columns, found {raw.shape[1]}", path)
    keep = raw[:, 2] >= min_rating
    users, items = raw[keep, 0] - 1, raw[keep, 1] - 1
    return Interactions(users, items, int(raw[:, 0].max()), int(raw[:, 1].max()), times=raw[keep, 3],
                        name="movielens_100k")


def load_movielens_100k(folder: str | Path, seed: int = MOVIELENS_SPLIT_SEED, min_rating: int = 1) -> InteractionData:
    """MovieLens 100K as implicit feedback (every rating, see the module docstring), per-user random
    80/10/10 split with ``seed``."""
    return random_split(read_movielens_100k(folder, min_rating), seed)


# ---------------------------------------------------------------- Gowalla (LightGCN's split)

def read_adjacency_lists(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """LightGCN's ``user item item ...`` lines (gzip read directly when the name ends in .gz) -> (users, items)."""
    if not path.is_file():
        raise InputError("file not found", path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        text = f.read()
    lengths = np.fromiter((len(line.split()) for line in text.splitlines()), dtype=np.int64)  # one per user
    lengths = lengths[lengths > 0]
    try:
        tokens = np.array(text.split(), dtype=np.int64)
    except ValueError as e:
        raise InputError(f"expected integer ids: {e}", path) from None
    starts = np.cumsum(lengths) - lengths
    is_user = np.zeros(len(tokens), dtype=bool)
    is_user[starts] = True
    return np.repeat(tokens[starts], lengths - 1), tokens[~is_user]


def read_gowalla(folder: str | Path) -> tuple[Interactions, Interactions]:
    """Gowalla's LightGCN train and test logs (no timestamps), over the same id space."""
    folder = Path(folder)
    tr_u, tr_i = read_adjacency_lists(folder / "train.txt.gz")
    te_u, te_i = read_adjacency_lists(folder / "test.txt.gz")
    nu = int(max(tr_u.max(), te_u.max())) + 1
    ni = int(max(tr_i.max(), te_i.max())) + 1
    return (Interactions(tr_u, tr_i, nu, ni, name="gowalla"), Interactions(te_u, te_i, nu, ni, name="gowalla"))


def load_gowalla(folder: str | Path, seed: int = GOWALLA_VALID_SEED,
                 valid_fraction: float = VALID_FRACTION) -> InteractionData:
    """Gowalla with LightGCN's exact train/test split and a validation split carved from train
    (`carve_validation`)."""
    train, test = read_gowalla(folder)
    return carve_validation(train, test, seed, valid_fraction)


def carve_validation(train: Interactions, test: Interactions, seed: int = GOWALLA_VALID_SEED,
                     valid_fraction: float = VALID_FRACTION) -> InteractionData:
    """A fixed train/test split plus validation = round(valid_fraction n) random train items of each user
    (at most n - 1), seeded; the model trains on the rest, the test split is kept as it is."""
    rng = np.random.default_rng(seed)
    rank, n = rank_within_user(train.users, rng.random(len(train)))
    is_valid = rank < np.minimum(round_half_up(valid_fraction * n), n - 1)
    nu = train.num_users
    return InteractionData(nu, train.num_items,
                           user_items(train.users[~is_valid], train.items[~is_valid], nu),
                           user_items(train.users[is_valid], train.items[is_valid], nu),
                           user_items(test.users, test.items, nu),
                           protocol=f"lightgcn+valid{round(100 * valid_fraction)}", seed=seed, name=train.name)


def all_interactions(data: InteractionData) -> Interactions:
    """The union of a split's train, valid and test pairs as one log (no timestamps)."""
    parts = [data.split(s) for s in ("train", "valid", "test")]
    us, its = zip(*(p.pairs(np.arange(data.num_users)) for p in parts))
    return Interactions(np.concatenate(us), np.concatenate(its), data.num_users, data.num_items, name=data.name)
