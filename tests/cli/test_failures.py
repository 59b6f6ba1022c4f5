"""What the command line does when a run stops early (Ctrl-C, a failing disk, a bug) and what it may
replace: one line each, the documented exit status, and our own folders replaced as documented."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import lightfmp.train
from lightfmp.cli import exit_status

TINY = ["--hidden", "8", "--epochs", "1", "--batch-size", "512", "--quiet"]


_code = exit_status  # the exit status `lightfmp` would end with, without exiting


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("failures") / "data"
    assert _code(["prepare", "--format", "synthetic", "--rows", "3000", "--out", str(out), "--pretrain-size", "200",
                  "--quiet"]) == 0
    return out


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("lightfmp: error:") and "Traceback" not in err, err
    return lines[0]


def test_ctrl_c_names_the_checkpoint_and_the_resume_command(data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"

    def interrupted_fit(model, train, valid, cfg, *, on_epoch_end=None, **kw):
        on_epoch_end({"fake": 1})  # the checkpoint of a finished epoch is written, then the user presses Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(lightfmp.train, "fit", interrupted_fit)
    argv = ["train", "--data", str(data), "--out", str(out), *TINY]
    assert _code(argv) == 130
    line = _one_line(capsys.readouterr().err)
    assert str(out / "checkpoint.pt") in line and "--resume" in line and "lightfmp train" in line
    assert (out / "checkpoint.pt").is_file()


def test_ctrl_c_before_any_checkpoint_says_so(data, tmp_path, monkeypatch, capsys):
    def interrupted_fit(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(lightfmp.train, "fit", interrupted_fit)
    assert _code(["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY]) == 130
    assert "no checkpoint was written yet" in _one_line(capsys.readouterr().err)


def test_a_write_failure_mid_run_is_one_line(data, tmp_path, monkeypatch, capsys):
    import lightfmp.runs

    def full_disk(*a, **kw):
        raise OSError(28, "No space left on device", str(tmp_path / "run"))

    monkeypatch.setattr(lightfmp.runs, "write_run", full_disk)
    assert _code(["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "No space left on device" in line and str(tmp_path / "run") in line


def test_an_internal_error_is_one_line_with_exit_1(data, tmp_path, monkeypatch, capsys):
    def bug(*a, **kw):
        raise ValueError("something we did not foresee\nsecond line")

    monkeypatch.setattr(lightfmp.train, "fit", bug)
    assert _code(["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "internal error: ValueError: something we did not foresee" in line and "LIGHTFMP_DEBUG" in line


def test_our_own_folders_are_replaced_and_an_empty_one_is_used(data, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()  # empty: used
    assert _code(["train", "--data", str(data), "--out", str(out), "--seed", "1", *TINY]) == 0
    assert json.loads((out / "report.json").read_text())["seed"] == 1
    assert _code(["train", "--data", str(data), "--out", str(out), "--seed", "2", *TINY]) == 0  # ours: replaced
    assert json.loads((out / "report.json").read_text())["seed"] == 2
    raw = tmp_path / "raw.tsv"
    from lightfmp.data.synthetic import write_criteo_tsv

    write_criteo_tsv(raw, rows=300, seed=5)
    scores = tmp_path / "scores.csv"
    for _ in range(2):  # a score file predict wrote is replaced
        assert _code(["predict", "--run", str(out), "--input", str(raw), "--out", str(scores)]) == 0
    assert scores.read_text().splitlines()[0] == "probability" and len(scores.read_text().splitlines()) == 301
    capsys.readouterr()


def test_predict_keeps_an_id_column_and_the_python_api_scores_raw_rows(data, tmp_path, capsys):
    import numpy as np
    import pyarrow as pa

    from lightfmp.runs import Run

    out = tmp_path / "run"
    assert _code(["train", "--data", str(data), "--out", str(out), *TINY]) == 0
    run = Run.load(out)
    rng = np.random.default_rng(0)
    n = 50
    cols = {"row_id": [f"r,{i}" for i in range(n)], "label": [""] * n}  # a blank label column is fine
    for name in run.schema.names:
        cols[name] = [str(v) for v in rng.integers(0, 20, n)]
    table = pa.table(cols)
    p_table = run.predict(table)
    assert p_table.shape == (n,) and np.all((p_table > 0) & (p_table < 1))
    # the same rows from a file of the run's format give the same scores
    from lightfmp.data.synthetic import write_criteo_tsv

    raw = write_criteo_tsv(tmp_path / "raw.tsv", rows=40, seed=9)
    p_file = run.predict(raw)
    assert p_file.shape == (40,)
    capsys.readouterr()


@pytest.mark.parametrize("verb", ["train", "prepare", "predict"])
def test_a_folder_without_write_permission_is_refused_before_any_work(verb, data, tmp_path, monkeypatch, capsys):
    """Root ignores chmod, so the file system's answer is simulated: `os.access` says no for one folder."""
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked else real(p, mode, **kw))
    if verb == "train":
        argv = ["train", "--data", str(data), "--out", str(locked / "run"), *TINY]
    elif verb == "prepare":
        argv = ["prepare", "--format", "synthetic", "--rows", "3000", "--out", str(locked / "d"), "--quiet"]
    else:
        run = tmp_path / "run"
        monkeypatch.setattr(os, "access", real)
        assert _code(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked else real(p, mode, **kw))
        from lightfmp.data.synthetic import write_criteo_tsv

        raw = write_criteo_tsv(tmp_path / "raw.tsv", rows=50, seed=1)
        argv = ["predict", "--run", str(run), "--input", str(raw), "--out", str(locked / "s.csv")]
    capsys.readouterr()
    assert _code(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert "cannot write into" in line and str(locked) in line
    assert list(locked.iterdir()) == []
