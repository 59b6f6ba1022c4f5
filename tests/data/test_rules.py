"""Bucketing, vocabulary and split rules, determinism by seed, encode_raw and the open_data cache."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lightfmp.data.bucketing import log2_bucket
from lightfmp.data.dataset import PreparedData
from lightfmp.data.prepare import prepare
from lightfmp.data.split import stratified_split
from lightfmp.data.synthetic import write_criteo_tsv

HEADER = "label," + ",".join(f"I{i}" for i in range(1, 14)) + "," + ",".join(f"C{i}" for i in range(1, 27))


def _criteo_rows(rows: list[tuple[int, list[str], list[str]]]) -> str:
    return "".join(f"{y}\t" + "\t".join(i) + "\t" + "\t".join(c) + "\n" for y, i, c in rows)


def test_log2_bucket_matches_optfs_rule():
    x = np.array([-3, -1, 0, 1, 2, 2.5, 3, 10, 100, 1e6])
    expect = [int(math.floor(math.log(v) ** 2)) if v > 2 else int(v) for v in x]
    assert log2_bucket(x).tolist() == expect


def test_vocab_min_count_oov_and_missing(tmp_path):
    # C1: "a" x6, "b" x3, "c" x1 (rare -> OOV), missing x2; I1: values 1 (x1) and 100 (x11)
    rows = []
    c1 = ["a"] * 6 + ["b"] * 3 + ["c"] + [""] * 2
    for k, v in enumerate(c1):
        i = ["1" if k == 0 else "100"] + [""] * 12
        rows.append((k % 2, i, [v] + ["z"] * 25))
    path = tmp_path / "t.tsv"
    path.write_text(_criteo_rows(rows * 10))  # x10: 120 rows, counts scale by 10
    d = prepare("criteo", path, tmp_path / "o", pretrain_size=10, min_count=11, progress=False)
    vocab = d.vocab(["C1", "I1"])
    # "c" is seen 10 times < 11: OOV; "a" (60) before "b" (30): ids by descending count.
    assert vocab["C1"].to_pylist() == ["a", "b"]
    # numeric fields keep every value (no min-count), ordered by value: 1 and floor(ln(100)^2) = 21
    assert vocab["I1"].to_pylist() == [1, 21]
    X = np.concatenate([d.split(s)[0] for s in ("train", "valid", "test")])
    col = X[:, d.schema.names.index("C1")]
    assert (col == 0).sum() == 10 and (col == 1).sum() == 20 and (col == 2).sum() == 60 and (col == 3).sum() == 30
    assert (X[:, d.schema.names.index("I2")] == 1).all()  # always missing
    sizes = dict(zip(d.schema.names, d.schema.vocab_sizes))
    assert sizes["C1"] == 4 and sizes["I1"] == 4 and sizes["I2"] == 2


def test_split_is_stratified_and_8_1_1():
    y = (np.random.default_rng(0).random(10_000) < 0.23).astype(np.float32)
    code = stratified_split(y, seed=5)
    sizes = np.bincount(code, minlength=3)
    assert abs(sizes[0] - 8000) <= 2 and abs(sizes[1] - 1000) <= 2
    rates = [y[code == i].mean() for i in range(3)]
    assert max(rates) - min(rates) < 2 / 1000  # equal up to one row per class
    assert not np.array_equal(code, stratified_split(y, seed=6))
    np.testing.assert_array_equal(code, stratified_split(y, seed=5))


def test_determinism_by_seed(tmp_path):
    a = prepare("synthetic", None, tmp_path / "a", rows=3000, pretrain_size=100, seed=7, progress=False)
    b = prepare("synthetic", None, tmp_path / "b", rows=3000, pretrain_size=100, seed=7, progress=False)
    c = prepare("synthetic", None, tmp_path / "c", rows=3000, pretrain_size=100, seed=8, progress=False)
    for s in ("train", "valid", "test"):
        np.testing.assert_array_equal(a.split(s)[0], b.split(s)[0])
        np.testing.assert_array_equal(a.split(s)[1], b.split(s)[1])
    np.testing.assert_array_equal(a.pretrain_index, b.pretrain_index)
    assert not np.array_equal(a.split("train")[1], c.split("train")[1])
    assert a.truth["informative"] == c.truth["informative"]  # layout does not depend on the seed


def test_synthetic_tsv_equals_synthetic_format(tmp_path):
    """The raw TSV writer and the embedded format give the same prepared data."""
    raw = write_criteo_tsv(tmp_path / "s.tsv", rows=3000, seed=3)
    a = prepare("criteo", raw, tmp_path / "a", pretrain_size=100, seed=3, progress=False)
    b = prepare("synthetic", None, tmp_path / "b", rows=3000, pretrain_size=100, seed=3, progress=False)
    assert a.schema.vocab_sizes == b.schema.vocab_sizes
    np.testing.assert_array_equal(a.split("train")[0], b.split("train")[0])
    assert (tmp_path / "s.tsv.truth.json").exists()


def test_rows_limit(tmp_path, shared_data_dir):
    d = prepare("avazu", shared_data_dir / "avazu_sample" / "wide_resdnn", tmp_path / "o", rows=1000,
                pretrain_size=100, progress=False)
    assert sum(d.summary["rows"].values()) == 1000


def test_encode_raw_matches_prepared(criteo_sample_data, shared_data_dir):
    d = PreparedData.load(criteo_sample_data)
    X, y = d.encode_raw(shared_data_dir / "criteo_kaggle_sample" / "wide_resdnn" / "test.csv", ["C3", "I2", "C1"])
    assert X.shape == (391, 3) and y is not None and len(y) == 391
    full, _ = d.encode_raw(shared_data_dir / "criteo_kaggle_sample" / "wide_resdnn" / "test.csv")
    names = d.schema.names
    np.testing.assert_array_equal(X, full[:, [names.index("C3"), names.index("I2"), names.index("C1")]])
    assert (X < np.array([d.schema.vocab_sizes[names.index(n)] for n in ("C3", "I2", "C1")])).all()


def test_encode_raw_without_label(tmp_path, synthetic_data):
    d = PreparedData.load(synthetic_data)
    raw = write_criteo_tsv(tmp_path / "s.tsv", rows=500, seed=2021)
    unlabeled = tmp_path / "nolabel.tsv"
    unlabeled.write_text("".join(line.split("\t", 1)[1] for line in raw.read_text().splitlines(keepends=True)))
    X1, y1 = d.encode_raw(raw, ["I1", "C2"])
    X2, y2 = d.encode_raw(unlabeled, ["I1", "C2"])
    assert y2 is None and y1 is not None
    np.testing.assert_array_equal(X1, X2)


def test_csv_and_parquet_inference(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    n = 400
    table = pa.table({
        "user": pa.array(rng.integers(0, 20, n)),
        "city": pa.array(rng.choice(["x", "y", "z"], n).tolist()),
        "price": pa.array(rng.exponential(10, n)),
        "y": pa.array(rng.integers(0, 2, n)),
    })
    pq.write_table(table, tmp_path / "t.parquet")
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, tmp_path / "t.csv")
    for fmt in ("csv", "parquet"):
        d = prepare(fmt, tmp_path / f"t.{fmt}", tmp_path / fmt, label="y", pretrain_size=50, progress=False)
        assert d.schema.names == ["user", "city", "price"]
        assert [f.kind for f in d.schema.fields] == ["categorical", "categorical", "numeric"]
        X, y = d.encode_raw(tmp_path / f"t.{fmt}", ["city"])
        assert X.shape == (n, 1) and len(y) == n
    d = prepare("csv", tmp_path / "t.csv", tmp_path / "decl", label="y", numeric=["user"], pretrain_size=50,
                progress=False)
    assert d.schema.fields[0].kind == "numeric"


def test_open_data_caches(tmp_path, monkeypatch):
    from lightfmp.data.open import open_data

    monkeypatch.setenv("LIGHTFMP_CACHE", str(tmp_path / "cache"))
    a = open_data(fmt="synthetic", rows=2000, pretrain_size=100, progress=False)
    b = open_data(fmt="synthetic", rows=2000, pretrain_size=100, progress=False)
    c = open_data(fmt="synthetic", rows=2500, pretrain_size=100, progress=False)
    assert a.dir == b.dir != c.dir and a.dir.parent == tmp_path / "cache"
    stamp = (a.dir / "schema.json").stat().st_mtime_ns
    open_data(fmt="synthetic", rows=2000, pretrain_size=100, progress=False)
    assert (a.dir / "schema.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert open_data(data=a.dir).dir == a.dir
    raw = write_criteo_tsv(tmp_path / "r.tsv", rows=1500)
    d1 = open_data(fmt="criteo", input=raw, pretrain_size=100, progress=False)
    raw.write_text(raw.read_text() + raw.read_text().splitlines(keepends=True)[0])  # file changed
    d2 = open_data(fmt="criteo", input=raw, pretrain_size=100, progress=False)
    assert d1.dir != d2.dir and sum(d2.summary["rows"].values()) == 1501
