import json

import pyarrow as pa
import pytest
import torch

from lightfmp.data.schema import FieldSpec, Schema
from lightfmp.errors import InputError
from lightfmp.models import ModelConfig, build_model
from lightfmp.runs import REQUIRED_KEYS, load_run, make_report, write_run

SIZES = [5, 7, 4]


def _schema():
    return Schema(fields=tuple(FieldSpec(f"f{i}", "categorical", v) for i, v in enumerate(SIZES)),
                  dataset="toy", protocol={"format": "criteo"})


def _vocab():
    rows = [(f"f{i}", f"v{j}", j) for i, v in enumerate(SIZES) for j in range(2, v)]
    rows.append(("other", "x", 2))
    f, v, i = zip(*rows)
    return pa.table({"field": list(f), "value": list(v), "id": pa.array(i, type=pa.int32())})


def _report(schema, kept=(0, 1, 2)):
    return make_report(method="none", model="deepfm", schema=schema, kept=list(kept), seed=3, auc=0.71,
                       logloss=0.5, val_auc=float("nan"), train_rows=100, params_before=10, params_after=10,
                       continued_seconds=1.5, train_samples_per_second=1000.0, inference_seconds=0.1,
                       inference_samples_per_second=5000.0, mask=[0.9, 0.1, 0.5],
                       extra={"history": [{"epoch": 1, "val_auc": float("nan")}]})


def test_report_has_every_product_key_and_derives_pruned():
    r = _report(_schema(), kept=["f2", "f0"])
    assert set(REQUIRED_KEYS) <= set(r)
    assert r["fields_kept"] == ["f0", "f2"] and r["fields_pruned"] == ["f1"]
    assert r["prune_ratio"] == pytest.approx(1 / 3) and r["fields_total"] == 3
    assert r["mask"] == {"f0": 0.9, "f1": 0.1, "f2": 0.5}
    assert r["val_auc"] is None and r["total_seconds"] == 1.5
    assert set(r["versions"]) == {"python", "torch", "numpy", "lightfmp"}
    with pytest.raises(ValueError, match="overwrite"):
        make_report(**{**dict(method="x", model="dnn", schema=_schema(), kept=[0], seed=0, auc=0.5, logloss=0.7,
                              val_auc=0.5, train_rows=1, params_before=1, params_after=1, continued_seconds=1,
                              train_samples_per_second=1, inference_seconds=1, inference_samples_per_second=1),
                       "extra": {"auc": 1.0}})


def test_run_round_trip_reproduces_logits(tmp_path):
    schema = _schema()
    torch.manual_seed(0)
    model = build_model("deepfm", SIZES, ModelConfig(embed_dim=4, hidden=(8,)))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)  # non-trivial weights (linear terms start at zero)
    out = write_run(tmp_path / "run", _report(schema), model, schema, _vocab(), {"lr": 1e-3})
    run = load_run(out)
    x = torch.tensor([[0, 1, 2], [4, 6, 3], [2, 0, 1]])
    model.eval()
    torch.testing.assert_close(run.model(x), model(x), rtol=0, atol=0)
    assert run.schema == schema and run.config == {"lr": 1e-3}
    rep = json.loads((out / "report.json").read_text())  # strict JSON: NaN became null
    assert rep["val_auc"] is None and rep["history"][0]["val_auc"] is None
    import pyarrow.parquet as pq

    vocab = pq.read_table(run.vocab_path)
    assert set(vocab["field"].to_pylist()) == {"f0", "f1", "f2"} and vocab.num_rows == sum(v - 2 for v in SIZES)


def test_kept_fields_only_in_schema_and_vocab(tmp_path):
    full = _schema()
    compact = full.subset(["f0", "f2"])
    model = build_model("dnn", compact.vocab_sizes, ModelConfig(embed_dim=2, hidden=(4,)))
    out = write_run(tmp_path / "r", _report(full, kept=[0, 2]), model, compact, _vocab(), {})
    import pyarrow.parquet as pq

    assert sorted(set(pq.read_table(out / "vocab.parquet")["field"].to_pylist())) == ["f0", "f2"]
    assert load_run(out).schema.names == ["f0", "f2"]
    with pytest.raises(ValueError, match="vocab sizes"):
        write_run(tmp_path / "bad", _report(full), model, full, _vocab(), {})


def test_failed_write_keeps_previous_run_and_leaves_no_temp(tmp_path):
    schema = _schema()
    model = build_model("dnn", SIZES, ModelConfig(embed_dim=2, hidden=(4,)))
    out = write_run(tmp_path / "run", _report(schema), model, schema, _vocab(), {"v": 1})
    with pytest.raises(InputError, match="vocab.parquet"):
        write_run(tmp_path / "run", _report(schema), model, schema, tmp_path / "nowhere", {"v": 2})
    assert load_run(out).config == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # success replaces it
    write_run(tmp_path / "run", _report(schema), model, schema, _vocab(), {"v": 3})
    assert load_run(out).config == {"v": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_load_run_rejects_incomplete_folder(tmp_path):
    (tmp_path / "report.json").write_text("{}")
    with pytest.raises(InputError, match="run folder"):
        load_run(tmp_path)
