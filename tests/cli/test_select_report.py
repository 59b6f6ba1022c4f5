"""`lightfmp select` end to end on a tiny prepared synthetic set, then `lightfmp report` over run folders."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lightfmp.cli import main

SMALL = ["--embed-dim", "4", "--hidden", "16", "--epochs", "1", "--batch-size", "512", "--quiet"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from lightfmp.data.prepare import prepare

    out = tmp_path_factory.mktemp("sel") / "syn"
    prepare("synthetic", None, out, progress=False, rows=3000, seed=3)
    return out


def _run(argv, capsys):
    code = 0
    try:
        main(argv)
    except SystemExit as exc:  # only on errors: main returns normally on success
        code = exc.code
    return code, capsys.readouterr()


def test_select_writes_run_and_report_prints_both_tables(tiny_data, tmp_path, capsys):
    from lightfmp.data.dataset import PreparedData
    from lightfmp.experiment import run
    from lightfmp.models.config import ModelConfig
    from lightfmp.train import TrainConfig

    runs = tmp_path / "runs"
    # the No Selection partner, through the same experiment code the verbs use
    run("none", PreparedData.load(tiny_data), model_cfg=ModelConfig(embed_dim=4, hidden=(16,)),
        train_cfg=TrainConfig(epochs=1, batch_size=512), out=runs / "none")
    code, cap = _run(["select", "--method", "lasso", "--data", str(tiny_data), "--out", str(runs / "lasso"),
                      "--json", *SMALL], capsys)
    assert code in (0, None)
    report = json.loads(cap.out)
    assert report["method"] == "lasso" and len(report["fields_kept"]) == 39 - 20
    rep = json.loads((runs / "lasso" / "report.json").read_text())
    assert rep["method"] == "lasso" and rep["pretrain_seconds"] > 0 and 0 <= rep["auc"] <= 1
    assert (runs / "lasso" / "model.pt").is_file()
    # one config.json shape: the shared keys in every run folder, the method's own added
    shared = {"method", "model", "seed", "prune_ratio", "model_config", "train_config", "options", "data"}
    for name in ("none", "lasso"):
        assert shared <= set(json.loads((runs / name / "config.json").read_text()))
    code, cap = _run(["report", str(runs / "none"), str(runs / "lasso"), "--plot", str(tmp_path / "figs")], capsys)
    assert code in (0, None)
    out = cap.out
    assert "Table 2" in out and "Table 3" in out and "Lasso (shallow)" in out and "No Selection" in out
    assert "Two-stage methods" not in out  # Lasso is shallow: no stage split to show
    assert (tmp_path / "figs").is_dir()
    # a deep two-stage method: its search and retraining appear as shares of No Selection's TT
    code, _ = _run(["select", "--method", "optem", "--data", str(tiny_data), "--out", str(runs / "optem"),
                    "--search-epochs", "1", *SMALL], capsys)
    assert code in (0, None)
    code, cap = _run(["report", str(runs / "none"), str(runs / "optem"), "--json"], capsys)
    cell = json.loads(cap.out)["stages"]["rows"]["optem"]["synthetic"]
    rep = json.loads((runs / "optem" / "report.json").read_text())
    none = json.loads((runs / "none" / "report.json").read_text())
    assert cell["stage1"][0] == pytest.approx(rep["pretrain_seconds"] / none["total_seconds"])
    assert cell["passes"][0] == pytest.approx(rep["search_steps"] * 512 / rep["train_rows"])


def test_report_bad_input_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "r"
    bad.mkdir()
    (bad / "report.json").write_text("{not json")
    proc = subprocess.run([sys.executable, "-m", "lightfmp", "report", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "report.json" in proc.stderr and "Traceback" not in proc.stderr


def test_select_unknown_method_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lightfmp", "select", "--method", "nope", "--data", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2


def test_no_selection_on_train_minus_pretrain_rows(tiny_data):
    from lightfmp.data.dataset import PreparedData
    from lightfmp.experiment import run
    from lightfmp.models.config import ModelConfig
    from lightfmp.train import TrainConfig

    data = PreparedData.load(tiny_data)
    kw = dict(model_cfg=ModelConfig(embed_dim=4, hidden=(16,)), train_cfg=TrainConfig(epochs=1, batch_size=512))
    n_train, n_pre = len(data.split("train")[1]), len(data.pretrain_index)
    whole = run("none", data, **kw).report()
    minus = run("none", data, train_rows="continued", **kw).report()
    assert whole["train_rows"] == n_train and whole["train_split"] == "train"
    assert minus["train_rows"] == n_train - n_pre and minus["train_split"] == "train minus D_S"
    with pytest.raises(ValueError, match="train_rows"):
        run("lasso", data, train_rows="continued", **kw)
    # the report tables compare with No Selection on the whole split only
    from lightfmp.report.tables import table2_data

    mean, _, n = table2_data([whole, minus], "dnn")["rows"]["none"][whole["dataset"]]["auc"]
    assert mean == whole["auc"] and n == 1
