"""End to end: `lightfmp train` on the real Criteo sample, then `lightfmp predict` on a raw Criteo file."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lightfmp.cli import main

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
# Small and fast: the 6,400-row sample needs more than batch 4096's two steps per epoch.
FAST = ["--model", "dnn", "--hidden", "64,32", "--batch-size", "512", "--lr", "3e-3", "--epochs", "6", "--quiet"]


def run_cli(argv, capsys):
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def criteo_run(criteo_sample_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "criteo_dnn"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["train", "--data", str(criteo_sample_data), "--out", str(out), "--json", *FAST])
    return out, json.loads(buf.getvalue())


def test_train_writes_run_and_reaches_auc(criteo_run):
    out, report = criteo_run
    assert report["auc"] > 0.68, report["auc"]
    assert report["method"] == "none" and report["model"] == "dnn" and report["dataset"] == "criteo"
    assert report["fields_total"] == 39 and len(report["fields_kept"]) == 39 and report["fields_pruned"] == []
    assert report["params_before"] == report["params_after"] > 0
    assert report["train_samples_per_second"] > 0 and report["inference_seconds"] > 0
    for name in ("report.json", "model.pt", "schema.json", "vocab.parquet", "config.json"):
        assert (out / name).is_file()
    saved = json.loads((out / "report.json").read_text())
    assert saved["auc"] == report["auc"]


def test_predict_scores_raw_criteo_file(criteo_run, tmp_path, capsys):
    out, report = criteo_run
    raw = SHARED / "criteo_kaggle_sample" / "wide_resdnn" / "test.csv"
    if not raw.exists():
        pytest.skip("shared data absent")
    scores = tmp_path / "scores.csv"
    code, stdout, err = run_cli(["predict", "--run", str(out), "--input", str(raw), "--out", str(scores), "--json"],
                                capsys)
    assert code == 0, err
    info = json.loads(err.strip().splitlines()[-1])
    lines = scores.read_text().splitlines()
    assert lines[0] == "probability" and len(lines) == 1 + info["rows"]
    p = np.array(lines[1:], dtype=float)
    assert ((p > 0) & (p < 1)).all() and p.std() > 0
    # the test split of the prepared sample is not this file, but the same distribution
    assert info["auc"] > 0.6


def test_bad_device_is_one_line_error(criteo_sample_data, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda is valid here")
    code, out, err = run_cli(["train", "--data", str(criteo_sample_data), "--device", "cuda", "--quiet"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "--device cuda" in err and "Traceback" not in err


def test_missing_data_and_bad_hidden_are_input_errors(capsys, tmp_path):
    code, _, err = run_cli(["train", "--quiet"], capsys)
    assert code == 2 and "--data" in err
    code, _, err = run_cli(["train", "--format", "synthetic", "--rows", "3000", "--hidden", "4,x", "--quiet"], capsys)
    assert code == 2 and "--hidden" in err
    code, _, err = run_cli(["train", "--format", "synthetic", "--rows", "3000", "--embed-init", "0", "--quiet"], capsys)
    assert code == 2 and "--embed-init" in err and "xavier" in err
    code, _, err = run_cli(["predict", "--run", str(tmp_path), "--input", str(tmp_path / "none.txt")], capsys)
    assert code == 2 and "none.txt" in err


def test_train_synthetic_table_output(tmp_path, capsys):
    out = tmp_path / "syn"
    code, stdout, err = run_cli(["train", "--format", "synthetic", "--rows", "3000", "--epochs", "1",
                                 "--hidden", "16", "--batch-size", "512", "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert "auc" in stdout and "run folder:" in stdout and (out / "model.pt").is_file()
    assert json.loads((out / "config.json").read_text())["model_config"]["embed_init_std"] == 1e-4
    code, stdout, err = run_cli(["train", "--format", "synthetic", "--rows", "3000", "--epochs", "1",
                                 "--hidden", "16", "--batch-size", "512", "--out", str(out), "--quiet",
                                 "--embed-init", "xavier"], capsys)
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["model_config"]["embed_init_std"] is None
