"""`lightfmp train --sparse`: a No Selection run at a fixed density, saved compressed, predicted like any run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lightfmp.cli import exit_status

FAST = ["--hidden", "32,16", "--embed-dim", "4", "--epochs", "1", "--batch-size", "256", "--quiet"]


def test_sparse_run_is_compressed_and_scores_like_the_masked_model(synthetic_data: Path, tmp_path: Path) -> None:
    from lightfmp.runs import load_run

    dense, sparse = tmp_path / "dense", tmp_path / "sparse"
    assert exit_status(["train", "--data", str(synthetic_data), *FAST, "--out", str(dense)]) == 0
    assert exit_status(["train", "--data", str(synthetic_data), *FAST, "--out", str(sparse), "--sparse", "dsl",
                        "--density", "0.2", "--sparse-interval", "10", "--set", "sparse.allocation=uniform"]) == 0
    rep = json.loads((sparse / "report.json").read_text())
    cfg = json.loads((sparse / "config.json").read_text())
    assert cfg["sparse"]["method"] == "dsl" and cfg["sparse"]["allocation"] == "uniform"
    assert rep["sparse"]["density"] == pytest.approx(0.2, abs=1e-3) and rep["sparse"]["updates"] > 0
    assert rep["params_after"] < 0.35 * rep["params_before"]
    ratio = (sparse / "model.pt").stat().st_size / (dense / "model.pt").stat().st_size
    assert ratio < 0.3, ratio
    run = load_run(sparse)  # the compressed weights load to a model whose test scores are the run's
    from lightfmp.data.dataset import PreparedData
    from lightfmp.train import predict_logits
    from lightfmp.metrics import auc, sigmoid

    X, y = PreparedData.load(synthetic_data).split("test")
    probs = sigmoid(predict_logits(run.model, X)[0])
    assert auc(y, probs) == pytest.approx(rep["auc"], abs=1e-9)
    assert np.allclose(probs, np.load(sparse / "test_scores.npy"), atol=1e-6)


def test_a_bad_density_is_refused_in_one_line(synthetic_data: Path, tmp_path: Path, capsys) -> None:
    code = exit_status(["train", "--data", str(synthetic_data), *FAST, "--out", str(tmp_path / "r"),
                        "--sparse", "dsl", "--density", "1.5"])
    assert code == 2 and "--density" in capsys.readouterr().err
