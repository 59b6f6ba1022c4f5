"""Fields and rows per format on the real samples and synthetic data; the folder contract."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

from lightfmp.data.dataset import PreparedData
from lightfmp.data.schema import MISSING_ID, OOV_ID
from tests.conftest import SYNTHETIC_ROWS, shared_path


def _check_contract(d: PreparedData) -> None:
    F = d.schema.num_fields
    total = 0
    for s in ("train", "valid", "test"):
        X, y = d.split(s)
        assert X.dtype == np.int32 and y.dtype == np.float32 and X.shape == (len(y), F)
        assert isinstance(X, np.memmap)
        assert set(np.unique(y)) <= {0.0, 1.0}
        assert (X >= 0).all() and (X < np.array(d.schema.vocab_sizes)).all()
        total += len(y)
    assert sum(d.summary["rows"].values()) == total
    vocab = pq.read_table(d.dir / "vocab.parquet")
    assert vocab.column_names == ["field", "value", "id"]
    assert vocab.num_rows == sum(v - 2 for v in d.schema.vocab_sizes)
    assert not any(p.name.startswith(d.dir.name + ".tmp") for p in d.dir.parent.iterdir())


def test_criteo_sample(criteo_sample_data):
    d = PreparedData.load(criteo_sample_data)
    assert d.schema.num_fields == 39
    assert d.schema.names[:2] == ["I1", "I2"] and d.schema.names[-1] == "C26"
    assert d.summary["rows"] == {"train": 6400, "valid": 800, "test": 800}
    assert [f.kind for f in d.schema.fields].count("numeric") == 13
    _check_contract(d)
    # I1 is missing in some raw rows: the missing id is used; rare C3 values share the OOV id.
    X, _ = d.split("train")
    assert (X[:, 0] == MISSING_ID).any()
    assert (X[:, d.schema.names.index("C3")] == OOV_ID).any()
    assert d.truth is None


def test_criteo_deepctr_sample_header_and_commas(tmp_path):
    from lightfmp.data.prepare import prepare

    src = shared_path("criteo_kaggle_sample", "deepctr", "criteo_sample.txt")
    d = prepare("criteo", src, tmp_path / "o", pretrain_size=50, progress=False)
    assert d.schema.num_fields == 39 and sum(d.summary["rows"].values()) == 200


def test_avazu_sample(avazu_sample_data):
    d = PreparedData.load(avazu_sample_data)
    assert d.schema.num_fields == 24
    assert d.schema.names[:3] == ["hour", "weekday", "is_weekend"] and "id" not in d.schema.names
    assert d.schema.label == "click"
    # header only in train.csv; dev and test have none: 8,087 + 480 + 432 rows, no header row counted.
    assert sum(d.summary["rows"].values()) == 8999
    _check_contract(d)
    vocab = d.vocab(["hour", "weekday", "is_weekend"])
    # All rows are from 14102100: 2014-10-21 00:00, a Tuesday (weekday 1), not a weekend.
    assert vocab["hour"].to_pylist() == [0]
    assert vocab["weekday"].to_pylist() == [1]
    assert vocab["is_weekend"].to_pylist() == [0]


def test_movielens_100k(movielens_data):
    d = PreparedData.load(movielens_data)
    assert d.schema.names == ["user_id", "item_id", "age", "gender", "occupation", "zip", "release_year", "genres"]
    assert d.summary["rows"] == {"train": 80000, "valid": 10000, "test": 10000}
    _check_contract(d)
    v = d.vocab(["gender", "genres"])
    assert set(v["gender"].to_pylist()) == {"M", "F"}
    assert "Comedy|Romance" in v["genres"].to_pylist()
    # label = rating >= 4: 55,375 of the 100,000 ratings.
    y = np.concatenate([d.split(s)[1] for s in ("train", "valid", "test")])
    assert int(y.sum()) == 55375


def test_synthetic(synthetic_data):
    d = PreparedData.load(synthetic_data)
    assert d.schema.num_fields == 39 and sum(d.summary["rows"].values()) == SYNTHETIC_ROWS
    _check_contract(d)
    t = d.truth
    assert len(t["informative"]) == 6 and len(t["interaction"]) == 1 and len(t["interaction"][0]) == 2
    roles = t["informative"] + t["interaction"][0] + t["noise"]
    assert sorted(roles) == sorted(d.schema.names)
    assert 0.15 < d.summary["positive_rate"]["train"] < 0.35
    sizes = dict(zip(d.schema.names, d.schema.vocab_sizes))
    assert all(sizes[f] == 4 for f in t["interaction"][0])  # two values + OOV + missing
    assert max(t["generator"]["categorical_vocab"].values()) >= 100_000
    assert json.loads((d.dir / "schema.json").read_text())["dataset"] == "synthetic"


def test_synthetic_planted_signal(synthetic_data):
    """Informative fields carry signal, the pair only jointly, noise fields none (checked on raw rates)."""
    d = PreparedData.load(synthetic_data)
    X, y = d.split("train")
    names, t = d.schema.names, d.truth

    def spread(col: np.ndarray) -> float:  # weighted std of per-value positive rates (frequent values)
        vals, inv, cnt = np.unique(col, return_inverse=True, return_counts=True)
        rate = np.bincount(inv, weights=y) / cnt
        keep = cnt >= 500  # sampling noise of a rate on 500 rows is ~0.02
        return float(np.sqrt(np.average((rate[keep] - y.mean()) ** 2, weights=cnt[keep]))) if keep.any() else 0.0

    informative = [spread(X[:, names.index(f)]) for f in t["informative"]]
    a, b = (X[:, names.index(f)] for f in t["interaction"][0])
    assert min(informative) > 0.025
    assert spread(a) < 0.02 and spread(b) < 0.02
    assert spread(a * 10 + b) > 0.1
    noise = [spread(X[:, names.index(f)]) for f in t["noise"]]
    assert max(noise) < 0.02


def test_pretrain_and_continued(synthetic_data):
    d = PreparedData.load(synthetic_data)
    X, y = d.split("train")
    Xs, ys = d.pretrain()
    Xc, yc = d.continued()
    assert len(Xs) == 2000 and len(Xc) == len(X) - 2000
    idx = d.pretrain_index
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(Xs, X[idx])
    rest = np.setdiff1d(np.arange(len(X)), idx)
    np.testing.assert_array_equal(Xc, X[rest])
    np.testing.assert_array_equal(yc, y[rest])


def test_movielens_1m_layout(tmp_path):
    """The 1M ``::`` layout: users.dat (id::gender::age::occupation::zip), movies.dat with the year in the title."""
    from lightfmp.data.prepare import prepare

    (tmp_path / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    (tmp_path / "movies.dat").write_text("1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure\n")
    ratings = [f"{u}::{m}::{r}::978300760\n" for u, m, r in [(1, 1, 5), (1, 2, 3), (2, 1, 4), (2, 2, 1)] * 10]
    (tmp_path / "ratings.dat").write_text("".join(ratings))
    d = prepare("movielens", tmp_path, tmp_path / "o", pretrain_size=5, min_count=1, progress=False)
    assert d.schema.protocol["layout"] == "1m"
    v = d.vocab(["gender", "release_year", "genres", "zip"])
    assert set(v["gender"].to_pylist()) == {"F", "M"} and v["release_year"].to_pylist() == ["1995"]
    assert "Animation|Children's|Comedy" in v["genres"].to_pylist() and "70072" in v["zip"].to_pylist()
    y = np.concatenate([d.split(s)[1] for s in ("train", "valid", "test")])
    assert int(y.sum()) == 20  # ratings 5 and 4 are positives
