"""The automatic batch size (issue 23 item 6) and the per-epoch log lines (item 8)."""
import json
import re

import pytest

from lightfmp.train import TrainConfig, fit
from lightfmp.train.config import LARGE_BATCH, auto_batch_size

from tests.train.conftest import TinyCTR, separable

EPOCH_LINE = re.compile(r"^(?P<phase>[a-z ]+) epoch (\d+)/(\d+): loss \d+\.\d{4}(, val AUC \d\.\d{4})?, \d+\.\d s$")


def test_rule_is_the_paper_batch_on_large_data_and_smaller_on_small():
    assert auto_batch_size(33_000_000) == LARGE_BATCH == 4096  # the paper's setting is unchanged on big data
    assert auto_batch_size(10**9) == 4096
    sizes = [auto_batch_size(n) for n in (1, 100, 2_000, 6_400, 14_798, 40_000, 80_000, 300_000, 10**7)]
    assert sizes == sorted(sizes)  # never smaller for more rows
    assert all(s & (s - 1) == 0 for s in sizes)  # powers of two
    assert auto_batch_size(6_400) < 256 < 4096  # the Criteo sample: no longer a handful of steps an epoch
    assert auto_batch_size(0) == auto_batch_size(1) >= 1


def test_default_is_automatic_and_resolved_keeps_an_explicit_batch():
    cfg = TrainConfig()
    assert cfg.batch_size is None
    assert cfg.resolved(6_400).batch_size == auto_batch_size(6_400)
    assert cfg.resolved(6_400).to_dict()["batch_size"] == auto_batch_size(6_400)
    assert TrainConfig(batch_size=512).resolved(6_400).batch_size == 512
    assert "6,400 training rows" in cfg.batch_note(6_400)
    with pytest.raises(ValueError):
        TrainConfig(batch_size=0)


def test_fit_resolves_and_records_the_batch_and_logs_one_line_per_epoch(capsys):
    X, y = separable(3000)
    train, valid = (X[:2400], y[:2400]), (X[2400:], y[2400:])
    res = fit(TinyCTR([20, 20, 20]), train, valid, TrainConfig(epochs=2, patience=5), progress=False,
              phase="training", log_epochs=True)
    assert res.batch_size == auto_batch_size(2400)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(EPOCH_LINE.match(l) for l in lines), lines
    assert lines[0].startswith("training epoch 1/2: loss ") and "val AUC" in lines[0]
    fit(TinyCTR([20, 20, 20]), train, valid, TrainConfig(epochs=1), progress=False)
    assert capsys.readouterr().err == ""  # no lines unless asked


def test_search_resolves_the_batch_and_logs(capsys):
    from lightfmp.selection.search import search

    X, y = separable(1000)
    log = search(TinyCTR([20, 20, 20]), (X, y), TrainConfig(), epochs=2, log_epochs=True)
    assert log.steps == 2 * -(-1000 // auto_batch_size(1000))
    lines = capsys.readouterr().err.strip().splitlines()
    assert [EPOCH_LINE.match(l).group("phase") for l in lines] == ["search", "search"]


def run_cli(argv, capsys):
    from lightfmp.cli import exit_status

    code = exit_status(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_cli_says_the_batch_logs_epochs_and_records_the_number(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LIGHTFMP_CACHE", str(tmp_path / "cache"))
    base = ["train", "--format", "synthetic", "--rows", "3000", "--hidden", "16", "--epochs", "2"]
    code, out, err = run_cli(base + ["--out", str(tmp_path / "a")], capsys)  # stderr is not a terminal here
    assert code == 0, err
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())["train_config"]
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    rows = report["train_rows"]
    assert cfg["batch_size"] == report["batch_size"] == auto_batch_size(rows)
    assert f"batch size {auto_batch_size(rows):,} (chosen from {rows:,} training rows; --batch-size sets it)" in err
    assert len([l for l in err.splitlines() if EPOCH_LINE.match(l)]) == report["epochs_run"]

    code, out, err = run_cli(base + ["--out", str(tmp_path / "b"), "--quiet"], capsys)
    assert code == 0 and err == ""
    code, out, err = run_cli(base + ["--out", str(tmp_path / "c"), "--batch-size", "64", "--json"], capsys)
    assert code == 0 and "batch size" not in err and json.loads(out)["batch_size"] == 64
    # The resolved number is what a checkpoint's identity holds: an automatic run and its resume agree.
    assert json.loads((tmp_path / "b" / "config.json").read_text())["train_config"] == cfg
