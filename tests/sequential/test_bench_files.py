"""The RecBole peer gets exactly our split: benchmark files rebuilt into our inputs and targets."""
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from prunerec import table, write_recbole_files  # noqa: E402

from tests.sequential.test_data_train import _toy  # noqa: E402


def _read(path: Path) -> list[tuple[int, list[int], int]]:
    rows = []
    for line in path.read_text().splitlines()[1:]:
        u, hist, t = line.split("\t")
        rows.append((int(u), [int(x) for x in hist.split()], int(t)))
    return rows


def test_recbole_files_are_our_split(tmp_path):
    d = _toy(rows=40)
    write_recbole_files(d, tmp_path)
    folder = tmp_path / "toy"
    test = _read(folder / "toy.test.inter")
    assert [t for _, _, t in test] == d.test.targets.tolist()
    for i, (_, hist, _) in enumerate(test):
        assert hist == d.test.seqs[i, :d.test.lengths[i]].tolist()
    train = _read(folder / "toy.train.inter")
    assert len(train) == int((d.train.lengths - 1).sum())          # one row per next-item position
    for u, hist, t in train[:50]:
        seq = d.train.seqs[u, :d.train.lengths[u]].tolist()
        assert seq[len(hist)] == t and seq[:len(hist)] == hist


def test_table_means_over_seeds():
    rows = [{"data": "x", "model": "dense", "non_embedding_params": 10, "share_pruned": 0.0, "ndcg10_retained": 1.0,
             "test": {"ndcg@10": v, "hr@10": 2 * v}, "latency_b1_ms": 1.0, "latency_b256_ms": 0.1, "seconds": 3.0}
            for v in (0.1, 0.3)]
    md = table(rows)
    assert "| x | dense | 2 | 10 |" in md and "0.2000 ± 0.1000" in md and "0.4000 ± 0.2000" in md
