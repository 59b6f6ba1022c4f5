"""`lightfmp topk`: the top-K task through the same pipeline, report and run folder as the CTR verbs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightfmp.cli import exit_status


@pytest.fixture(scope="module")
def ml100k(shared_data_dir: Path) -> Path:
    return shared_data_dir / "movielens_100k"


def test_dense_and_dsl_runs_report_the_task_metrics(ml100k: Path, tmp_path: Path, capsys) -> None:
    dense, sparse = tmp_path / "dense", tmp_path / "dsl"
    base = ["topk", "--dataset", "movielens_100k", "--input", str(ml100k), "--model", "bpr-mf", "--epochs", "2",
            "--batch-size", "8192", "--quiet"]
    assert exit_status([*base, "--out", str(dense)]) == 0
    assert exit_status([*base, "--out", str(sparse), "--sparse", "dsl", "--density", "0.2",
                        "--sparse-interval", "5"]) == 0
    d, s = (json.loads((p / "report.json").read_text()) for p in (dense, sparse))
    assert d["task"] == "topk" and d["protocol"].startswith("random") and d["select_on"] == "recall@20"
    assert 0.0 < d["recall@20"] < 1.0 and 0.0 < d["ndcg@20"] < 1.0 and "val_recall@20" in d
    assert s["sparse"]["nonzero_density"] <= 0.2 + 1e-6 and s["params_after"] < 0.25 * s["params_before"]
    assert (sparse / "model.pt").stat().st_size < 0.3 * (dense / "model.pt").stat().st_size
    assert json.loads((sparse / "config.json").read_text())["sparse"]["method"] == "dsl"
    assert sorted(p.name for p in dense.iterdir()) == ["config.json", "model.pt", "report.json"]


def test_a_missing_folder_is_one_line(tmp_path: Path, capsys) -> None:
    code = exit_status(["topk", "--dataset", "gowalla", "--input", str(tmp_path / "nope"), "--out",
                        str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "gowalla" in err[0]


def test_report_over_a_topk_run_says_what_it_compares(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_text(json.dumps({"task": "topk", "recall@20": 0.1, "ndcg@20": 0.1}))
    assert exit_status(["report", str(run)]) == 2
    assert "the tables compare CTR runs" in capsys.readouterr().err
