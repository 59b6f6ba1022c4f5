"""Sequence loaders against naive reads, ranking metrics against a naive loop, training and distillation."""
import gzip

import numpy as np
import torch

from lightfmp.sequential.data import load_amazon_games, load_movielens, ragged_to_padded
from lightfmp.sequential.train import FitConfig, distill_kl, evaluate_next_item, fit_next_item
from lightfmp.sequential.data import SequenceData, SequenceSplit
from lightfmp.sequential.transformer import NextItemTransformer, TransformerConfig
from tests.conftest import shared_path


def test_ragged_to_padded_matches_loop():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 9, 40)
    rows = [rng.integers(1, 100, n) for n in lengths]
    got, kept = ragged_to_padded(np.concatenate(rows), lengths, 5)
    for r, row in enumerate(rows):
        tail = row[-5:] if len(row) else row
        assert list(got[r, :len(tail)]) == list(tail) and not got[r, len(tail):].any() and kept[r] == len(tail)


def test_movielens_chronological_leave_one_out():
    d = load_movielens(shared_path("movielens_100k"))
    raw = np.loadtxt(shared_path("movielens_100k", "u.data"), dtype=np.int64)
    u1 = raw[raw[:, 0] == 1]
    u1 = u1[np.argsort(u1[:, 3], kind="stable")]
    assert d.num_items == 1682 and len(d.valid) == len(d.test) == 943
    assert d.test.targets[0] == u1[-1, 1] and d.valid.targets[0] == u1[-2, 1]
    assert d.test.seqs[0, d.test.lengths[0] - 1] == u1[-2, 1]          # test input ends with the valid item
    assert list(d.train.seqs[0, :d.train.lengths[0]]) == list(u1[:-2, 1][-51:])


def test_amazon_games_split():
    folder = shared_path("amazon_games")
    d = load_amazon_games(folder)
    assert d.num_items == 17332 and len(d.train) == 49156 and d.task == "next-item"
    with gzip.open(folder / "sequential_valid.txt.gz", "rt") as f:
        valid = [line.split()[1:] for line in f]
    with_valid = [int(v[0]) for v in valid if v]
    assert len(d.valid) == len(with_valid) and d.valid.targets.tolist() == with_valid


def _ranked_naive(scores, targets, k):
    hr, nd = [], []
    for s, t in zip(scores, targets):
        r = int((s > s[t - 1]).sum())
        hr.append(float(r < k))
        nd.append(1 / np.log2(r + 2) if r < k else 0.0)
    return np.mean(hr), np.mean(nd)


def _toy(n_items=30, rows=200, seed=0) -> SequenceData:
    """Deterministic successor sequences: item i is always followed by i + 1 (wrapping)."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, n_items, (rows,), generator=g)
    length = torch.randint(3, 12, (rows,), generator=g)
    seq = (start.view(-1, 1) + torch.arange(12)) % n_items + 1
    pad = torch.arange(12) < length.view(-1, 1)
    seqs = torch.where(pad, seq, 0)
    nxt = (start + length) % n_items + 1
    split = SequenceSplit(seqs[:, :11], (length).clamp(max=11), nxt)
    return SequenceData("toy", n_items, 11, SequenceSplit(seqs, length, torch.zeros(rows, dtype=torch.long)), split, split)


def test_evaluate_matches_naive_loop():
    d = _toy()
    torch.manual_seed(0)
    m = NextItemTransformer(TransformerConfig(num_items=30, d_model=16, n_layers=1, n_heads=2, head_dim=8, d_ff=16))
    got = evaluate_next_item(m, d, "test", batch_size=37)
    with torch.no_grad():
        m.eval()
        scores = m.score_next(d.test.seqs)
    for k in (5, 10, 20):
        hr, nd = _ranked_naive(scores, d.test.targets, k)
        assert abs(got[f"hr@{k}"] - hr) < 1e-6 and abs(got[f"ndcg@{k}"] - nd) < 1e-6


def test_fit_learns_successor_and_distillation_matches_teacher():
    d = _toy()
    torch.manual_seed(0)
    cfg = TransformerConfig(num_items=30, d_model=32, n_layers=1, n_heads=2, head_dim=8, d_ff=32, dropout=0.0)
    teacher = NextItemTransformer(cfg)
    res = fit_next_item(teacher, d, FitConfig(epochs=10, batch_size=32, lr=5e-3, patience=10))
    assert res.best["ndcg@10"] > 0.9 and len(res.history) >= 1
    student = NextItemTransformer(cfg)
    with torch.no_grad():
        before = float(distill_kl(student.score_next(d.test.seqs), teacher.score_next(d.test.seqs), 1.0))
    fit_next_item(student, d, FitConfig(epochs=8, batch_size=32, lr=5e-3, select_on="loss"), teacher=teacher)
    with torch.no_grad():
        after = float(distill_kl(student.score_next(d.test.seqs), teacher.score_next(d.test.seqs), 1.0))
    assert after < 0.3 * before
    x = torch.randn(4, 30)
    assert float(distill_kl(x, x, 1.0)) < 1e-6
