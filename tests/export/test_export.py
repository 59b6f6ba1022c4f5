"""`lightfmp export` bundles, the engines and int8 on tiny runs of a 5-field CSV data set.

Every backbone is trained one epoch through the CLI (the DNN through `prune`, so the bundle holds a
compact model), exported, and scored by ONNX Runtime and eager PyTorch on the test rows.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from lightfmp.cli import exit_status  # noqa: E402
from lightfmp.export import Bundle, export_run  # noqa: E402
from lightfmp.export.engines import OrtEngine, TorchEngine, for_run, score  # noqa: E402
from lightfmp.export.trace import onnx_ops  # noqa: E402
from lightfmp.runs import load_run  # noqa: E402

TINY = ["--embed-dim", "4", "--hidden", "16,8", "--epochs", "1", "--batch-size", "256", "--quiet"]
BACKBONES = ["dnn", "widedeep", "deepfm", "xdeepfm", "pnn"]
TOL = 1e-5


_code = exit_status


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("lightfmp: error:") and "Traceback" not in err, err
    return lines[0]


def _write_csv(path: Path, rows: int, seed: int) -> Path:
    r = np.random.default_rng(seed)
    a, b, c = r.integers(0, 20, rows), r.integers(0, 60, rows), r.integers(0, 5, rows)
    x, z = r.exponential(20, rows).round(1), r.integers(0, 300, rows)
    logit = (a % 3 - 1) + 0.5 * (c - 2) + 0.2 * np.log1p(x) - 0.5
    y = (r.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    lines = ["rid,y,a,b,c,x,z"] + [f"r{i},{y[i]},a{a[i]},b{b[i]},c{c[i]},{x[i]},{z[i]}" for i in range(rows)]
    # A few values the vocabulary never saw, and blanks (missing): OOV and missing ids end to end.
    lines[1] = "r0,1,a99,b99,c9,,"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def raw(work) -> Path:
    """Raw rows to score (same distribution as the training file, other rows)."""
    return _write_csv(work / "score.csv", 600, seed=2)


@pytest.fixture(scope="module")
def runs(work) -> dict[str, Path]:
    data = work / "data"
    assert _code(["prepare", "--format", "csv", "--input", str(_write_csv(work / "train.csv", 3000, seed=1)),
                  "--label", "y", "--categorical", "a,b,c", "--numeric", "x,z", "--drop", "rid",
                  "--pretrain-size", "300", "--out", str(data), "--quiet"]) == 0
    out = {}
    for name in BACKBONES:
        out[name] = work / f"run_{name}"
        verb = ["prune", "--prune-ratio", "0.4", "--pretrain-size", "300"] if name == "dnn" else ["train"]
        assert _code([*verb, "--data", str(data), "--model", name, "--out", str(out[name]), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def bundles(runs, work) -> dict[str, Path]:
    """ONNX bundles of every backbone, written once for the module."""
    out = {}
    for name, run in runs.items():
        out[name] = work / f"bundle_{name}"
        export_run(run, out[name], "onnx")
    return out


@pytest.mark.parametrize("name", BACKBONES)
def test_onnx_bundle_scores_equal_pytorch_for_every_backbone(name, runs, bundles, raw):
    run, bundle = load_run(runs[name]), Bundle.load(bundles[name])
    X = run.encode(raw)[0]
    assert X.shape == (600, run.schema.num_fields)
    ort, eager = bundle.engine(), TorchEngine(run.model)
    assert np.abs(ort.logits(X) - eager.logits(X)).max() <= TOL
    assert np.abs(ort.logits(X[:1]) - eager.logits(X[:1])).max() <= TOL  # dynamic batch: 1 row too
    manifest = json.loads((bundles[name] / "bundle.json").read_text())
    assert manifest["check"]["max_abs_logit_difference"] <= TOL
    assert manifest["input"]["columns"] == run.schema.names
    ops = set(onnx_ops(bundles[name] / "model.onnx"))
    assert "Loop" not in ops and "Gemm" in ops and "Relu" in ops  # the plain Linear+ReLU


def test_compact_bundle_holds_only_kept_fields(runs, bundles):
    report = json.loads((runs["dnn"] / "report.json").read_text())
    assert report["fields_pruned"], "tau 0.4 of 5 fields prunes some"
    manifest = json.loads((bundles["dnn"] / "bundle.json").read_text())
    assert manifest["input"]["columns"] == report["fields_kept"]
    assert Bundle.load(bundles["dnn"]).schema.names == report["fields_kept"]


def test_torch_export_bundle_matches(runs, work, raw):
    out = work / "bundle_deepfm_pt2"
    manifest = export_run(runs["deepfm"], out, "torch-export")
    assert manifest["model_file"] == "model.pt2" and (out / "model.pt2").is_file()
    run, bundle = load_run(runs["deepfm"]), Bundle.load(out)
    X = run.encode(raw)[0]
    assert np.abs(bundle.engine().logits(X) - TorchEngine(run.model).logits(X)).max() <= TOL


def test_bundle_scores_raw_rows_like_run_predict(runs, bundles, raw):
    import pyarrow.csv as pacsv

    run, bundle = load_run(runs["xdeepfm"]), Bundle.load(bundles["xdeepfm"])
    expected = run.predict(raw)
    assert np.abs(bundle.predict(raw) - expected).max() <= TOL
    # A table of raw columns (what a server receives), with the extra columns a request may carry.
    table = pacsv.read_csv(raw)
    X, y, ids = bundle.encode(table, id_column="rid")
    assert (X == run.encode(raw)[0]).all() and y is not None and ids[0] == "r0"
    assert np.abs(bundle.predict(table) - expected).max() <= TOL


def test_predict_engine_onnxruntime_equals_torch(runs, bundles, raw, work, capsys):
    scores = {}
    for tag, argv in {"torch": ["--run", str(runs["dnn"])],
                      "ort": ["--run", str(runs["dnn"]), "--engine", "onnxruntime"],
                      "bundle": ["--run", str(bundles["dnn"])]}.items():
        out = work / f"scores_{tag}.csv"
        assert _code(["predict", *argv, "--input", str(raw), "--out", str(out), "--id-column", "rid", "--json"]) == 0
        info = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        lines = out.read_text().splitlines()
        assert lines[0] == "rid,probability" and lines[1].startswith("r0,")
        scores[tag] = np.array([float(ln.split(",")[1]) for ln in lines[1:]])
        assert info["engine"] == ("torch" if tag == "torch" else "onnxruntime") and info["auc"] is not None
    assert np.abs(scores["ort"] - scores["torch"]).max() <= 2e-6  # printed with 6 decimals
    assert np.abs(scores["bundle"] - scores["torch"]).max() <= 2e-6


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_predict_int8_prints_the_auc_change(engine, runs, raw, capsys):
    assert _code(["predict", "--run", str(runs["dnn"]), "--input", str(raw), "--engine", engine, "--int8"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("probability\n") and "int8 change" in err and "fp32" in err, err
    assert _code(["predict", "--run", str(runs["dnn"]), "--input", str(raw), "--engine", engine, "--int8",
                  "--json"]) == 0
    info = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert info["int8"] is True and abs(info["auc_change"]) < 0.05
    assert info["auc_change"] == pytest.approx(info["auc"] - info["auc_fp32"])


def test_int8_changes_scores_only_slightly(runs, raw):
    run = load_run(runs["deepfm"])
    X = run.encode(raw)[0]
    for engine in ("torch", "onnxruntime"):
        q, fp32 = for_run(run.model, engine, int8=True)
        a, b = score(q, X)[0], score(fp32, X)[0]
        assert 0 < np.abs(a - b).max() < 0.05, engine  # quantised (not identical), and close


def test_bad_inputs_are_one_line_exit_2(runs, bundles, work, capsys):
    cases = [
        ["export", "--run", str(work / "nope"), "--out", str(work / "b1")],
        ["export", "--run", str(runs["dnn"]), "--to", "tflite", "--out", str(work / "b2")],
        ["export", "--run", str(runs["dnn"]), "--out", str(runs["dnn"])],  # the run itself
        ["export", "--run", str(runs["dnn"]), "--out", str(runs["pnn"])],  # another run folder
    ]
    foreign = work / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    cases.append(["export", "--run", str(runs["dnn"]), "--out", str(foreign)])
    cases.append(["predict", "--run", str(bundles["dnn"]), "--input", str(work / "score.csv"),
                  "--engine", "torch"])  # an ONNX bundle is scored by onnxruntime
    for argv in cases:
        assert _code(argv) == 2, argv
        _one_line(capsys.readouterr().err)
    assert (foreign / "notes.txt").read_text() == "mine" and not (work / "b1").exists()


def test_export_replaces_its_own_bundle(runs, work, capsys):
    out = work / "again"
    assert _code(["export", "--run", str(runs["widedeep"]), "--out", str(out)]) == 0
    assert _code(["export", "--run", str(runs["widedeep"]), "--out", str(out), "--to", "torch-export"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["bundle.json", "model.pt2", "schema.json", "vocab.parquet"]
    assert "wrote" in capsys.readouterr().err


def test_ort_engine_runs_serialized_int8_bytes(bundles):
    from lightfmp.export.int8 import quantize_onnx

    ops = set()
    import onnx

    blob = quantize_onnx(bundles["dnn"] / "model.onnx")
    ops = {n.op_type for n in onnx.load_from_string(blob).graph.node}
    assert "MatMulInteger" in ops and "Gather" in ops  # Linear layers quantised, lookups untouched
    X = np.zeros((3, len(Bundle.load(bundles["dnn"]).schema.names)), dtype=np.int32)
    assert OrtEngine(blob).logits(X).shape == (3,)
