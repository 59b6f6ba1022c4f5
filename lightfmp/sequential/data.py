"""`SequenceData`: per-user item sequences for next-item prediction, as right-padded int64 tensors.

Item ids are 1..num_items, 0 is padding. Each split holds right-padded input sequences [N, L] (the last
``max_len`` items of the user's history, oldest first) and one target item per row:

- ``train``: the training sequence itself; every position predicts the next item (SASRec-style all-position
  cross-entropy), so ``train.seqs`` holds the last ``max_len + 1`` items and the model reads ``[:, :-1]``.
- ``valid``: input = the training sequence, target = the first validation item.
- ``test``: input = training then validation items, target = the first test item.

Two loaders (the gzip files are read directly, never copied):

- `load_amazon_games`: the DEALRec split (``sequential_{train,valid,test}.txt.gz``, one line per user,
  ``user item item ...``). Choice: a user with several held-out items is scored on the first one (the next
  item), and users with no held-out item in a split are left out of that split.
- `load_movielens`: ML-100K ``u.data``, each user's ratings sorted by timestamp (ties kept in file order,
  a stable sort), chronological leave-one-out: last item test, second to last validation, the rest train.

Right padding keeps the first real item at position 0 for every row, so RoPE positions and causal
attention need no padding mask; the last real position is ``length - 1``.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lightfmp.errors import InputError


@dataclass(frozen=True)
class SequenceSplit:
    """Right-padded sequences [N, L] (int64, 0 = pad), their lengths [N] and targets [N] (0 for train)."""

    seqs: Tensor
    lengths: Tensor
    targets: Tensor

    def __len__(self) -> int:
        return int(self.seqs.shape[0])


@dataclass(frozen=True)
class SequenceData:
    """One next-item data set: ``train``/``valid``/``test`` splits over items 1..``num_items``."""

    name: str
    num_items: int
    max_len: int
    train: SequenceSplit
    valid: SequenceSplit
    test: SequenceSplit
    task: str = "next-item"

    def split(self, name: str) -> SequenceSplit:
        if name not in ("train", "valid", "test"):
            raise InputError(f"split must be train, valid or test, got {name!r}")
        return getattr(self, name)


def ragged_to_padded(flat: np.ndarray, lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Ragged rows (``flat`` concatenated, ``lengths`` each) -> the last ``width`` items of every row,
    right-padded with 0 to [N, width], and the kept lengths. Vectorised: one scatter, no loop over rows."""
    lengths = np.asarray(lengths, dtype=np.int64)
    kept = np.minimum(lengths, width)
    ends = np.cumsum(lengths)
    starts_kept = ends - kept
    rows = np.repeat(np.arange(len(lengths)), kept)
    cols = np.arange(int(kept.sum())) - np.repeat(np.cumsum(kept) - kept, kept)
    src = np.repeat(starts_kept, kept) + cols
    out = np.zeros((len(lengths), width), dtype=np.int64)
    out[rows, cols] = np.asarray(flat, dtype=np.int64)[src]
    return out, kept


def _split(flat: np.ndarray, lengths: np.ndarray, width: int, targets: np.ndarray | None) -> SequenceSplit:
    seqs, kept = ragged_to_padded(flat, lengths, width)
    t = np.zeros(len(lengths), dtype=np.int64) if targets is None else np.asarray(targets, dtype=np.int64)
    return SequenceSplit(torch.from_numpy(seqs), torch.from_numpy(kept), torch.from_numpy(t))


def _read_lines(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``user item item ...`` gzip file -> (user ids [U], items flat, items per line [U])."""
    if not path.exists():
        raise InputError("file not found", path)
    with gzip.open(path, "rt") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    counts = np.fromiter((line.count(" ") + 1 if line else 0 for line in lines), dtype=np.int64, count=len(lines))
    tokens = np.array(text.split(), dtype=np.int64)
    first = np.cumsum(counts) - counts
    users = tokens[first]
    mask = np.ones(len(tokens), dtype=bool)
    mask[first] = False
    return users, tokens[mask], counts - 1


def _concat_ragged(a: np.ndarray, la: np.ndarray, b: np.ndarray, lb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise concatenation of two ragged arrays with the same number of rows."""
    lengths = la + lb
    out = np.empty(int(lengths.sum()), dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    pos_a = np.repeat(starts, la) + np.arange(int(la.sum())) - np.repeat(np.cumsum(la) - la, la)
    pos_b = np.repeat(starts + la, lb) + np.arange(int(lb.sum())) - np.repeat(np.cumsum(lb) - lb, lb)
    out[pos_a], out[pos_b] = a, b
    return out, lengths


def _first_of_rows(flat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The first item of every row (0 for an empty row)."""
    starts, has = np.cumsum(lengths) - lengths, lengths > 0
    out = np.zeros(len(lengths), dtype=np.int64)
    out[has] = flat[starts[has]]
    return out


def _select(flat: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ragged rows ``rows`` (a boolean mask) of (flat, lengths)."""
    return flat[np.repeat(rows, lengths)], lengths[rows]


def load_amazon_games(folder: str | Path, max_len: int = 50) -> SequenceData:
    """The DEALRec Games split from ``folder`` (see the module docstring)."""
    folder = Path(folder)
    parts = [_read_lines(folder / f"sequential_{s}.txt.gz") for s in ("train", "valid", "test")]
    (u_tr, tr, l_tr), (u_va, va, l_va), (u_te, te, l_te) = parts
    if not (np.array_equal(u_tr, u_va) and np.array_equal(u_tr, u_te)):
        raise InputError("train, valid and test files must list the same users in the same order", folder)
    num_items = int(max(tr.max(), va.max(initial=0), te.max(initial=0)))
    train = _split(tr, l_tr, max_len + 1, None)
    has_va = l_va > 0
    x_va, lx_va = _select(tr, l_tr, has_va)
    valid = _split(x_va, lx_va, max_len, _first_of_rows(va, l_va)[has_va])
    hist, l_hist = _concat_ragged(tr, l_tr, va, l_va)
    has_te = l_te > 0
    x_te, lx_te = _select(hist, l_hist, has_te)
    test = _split(x_te, lx_te, max_len, _first_of_rows(te, l_te)[has_te])
    return SequenceData("amazon_games", num_items, max_len, train, valid, test)


def load_movielens(folder: str | Path, max_len: int = 50) -> SequenceData:
    """ML-100K ``u.data`` with chronological leave-one-out (see the module docstring)."""
    path = Path(folder) / "u.data"
    if not path.exists():
        raise InputError("file not found", path)
    raw = np.loadtxt(path, dtype=np.int64, delimiter="\t")
    users, items, ts = raw[:, 0], raw[:, 1], raw[:, 3]
    order = np.lexsort((np.arange(len(users)), ts, users))  # by user, then time, then file order
    users, items = users[order], items[order]
    _, counts = np.unique(users, return_counts=True)
    if counts.min() < 3:
        raise InputError("every user needs at least 3 ratings for leave-one-out", path)
    ends = np.cumsum(counts)
    is_train = np.ones(len(items), dtype=bool)
    is_train[ends - 1] = is_train[ends - 2] = False
    tr, l_tr = items[is_train], counts - 2
    hist_mask = np.ones(len(items), dtype=bool)
    hist_mask[ends - 1] = False
    return SequenceData("movielens_100k", int(items.max()), max_len,
                        _split(tr, l_tr, max_len + 1, None),
                        _split(tr, l_tr, max_len, items[ends - 2]),
                        _split(items[hist_mask], counts - 1, max_len, items[ends - 1]))


LOADERS = {"amazon_games": load_amazon_games, "movielens_100k": load_movielens}


def load_sequences(name: str, folder: str | Path, max_len: int = 50) -> SequenceData:
    """One of `LOADERS` by data-set name."""
    if name not in LOADERS:
        raise InputError(f"unknown sequence data set {name!r}; known: {', '.join(LOADERS)}")
    return LOADERS[name](folder, max_len)
