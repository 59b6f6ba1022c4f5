"""Issue 7 end to end: torchrun data parallelism, SIGKILL + --resume, refused checkpoints, divergence.

Small synthetic data (40,000 rows) and a small DNN (embed 4, hidden 32) whose test AUC varies by
~0.002 across seeds, so the AUC comparisons below test the mechanism rather than noise.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lightfmp.data.prepare import prepare

SMALL = ["--epochs", "4", "--patience", "10", "--batch-size", "512", "--hidden", "32", "--embed-dim", "4",
         "--lr", "3e-3", "--quiet"]


def _env():
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))


def _lightfmp(*argv, torchrun=0, check=True):
    head = ([sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={torchrun}",
             "--standalone"] if torchrun else [sys.executable])
    # A session of its own, so that a timeout kills torchrun's workers too, not just the launcher.
    proc = subprocess.Popen(head + ["-m", "lightfmp", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    res = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    if check and res.returncode != 0:
        raise AssertionError(f"exit {res.returncode}:\n{res.stderr[-3000:]}")
    return res


def _report(run):
    return json.loads((Path(run) / "report.json").read_text())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "syn40k"
    prepare("synthetic", None, out, rows=40_000, progress=False)
    return out


def test_two_ranks_end_identical_and_match_one_process(data, tmp_path):
    _lightfmp("train", "--data", data, "--out", tmp_path / "one", *SMALL)
    _lightfmp("train", "--data", data, "--out", tmp_path / "two", *SMALL, torchrun=2)
    one, two = _report(tmp_path / "one"), _report(tmp_path / "two")
    digests = two["distributed"]["rank_state_sha1"]
    assert two["distributed"]["world_size"] == 2 and len(digests) == 2 and digests[0] == digests[1]
    assert abs(one["auc"] - two["auc"]) <= 0.005, (one["auc"], two["auc"])
    assert one["distributed"]["world_size"] == 1


@pytest.mark.parametrize("verb", ["prune", "select --method lasso"])
def test_light_fmp_and_a_selector_under_torchrun_keep_the_same_fields(data, tmp_path, verb):
    _lightfmp(*verb.split(), "--data", data, "--out", tmp_path / "one", *SMALL)
    _lightfmp(*verb.split(), "--data", data, "--out", tmp_path / "two", *SMALL, torchrun=2)
    one, two = _report(tmp_path / "one"), _report(tmp_path / "two")
    assert one["fields_kept"] == two["fields_kept"]
    assert len(set(two["distributed"]["rank_state_sha1"])) == 1
    assert abs(one["auc"] - two["auc"]) <= 0.005, (one["auc"], two["auc"])


def _wait_for_epoch(ckpt: Path, proc: subprocess.Popen, epoch: int, phase: str = "continued") -> None:
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if ckpt.is_file():
            state = torch.load(ckpt, weights_only=True)
            if state["phase"] == phase and state["trainer"]["epoch"] >= epoch:
                return
        time.sleep(0.05)
    raise AssertionError(f"no epoch-{epoch} checkpoint appeared (exit {proc.poll()})")


@pytest.mark.parametrize("verb,phase", [("prune", "continued"), ("select --method lasso", "retraining")])
def test_sigkilled_run_resumes_to_the_same_result(data, tmp_path, verb, phase):
    """prune and select checkpoint after choosing their fields and per epoch; --resume skips the choice."""
    verb = verb.split()
    _lightfmp(*verb, "--data", data, "--out", tmp_path / "whole", *SMALL)
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "lightfmp", *verb, "--data", str(data), "--out", str(run),
                             *SMALL], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_epoch(run / "checkpoint.pt", proc, 1, phase)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL and not (run / "report.json").exists()
    _lightfmp(*verb, "--data", data, "--out", run, *SMALL, "--resume")
    whole, resumed = _report(tmp_path / "whole"), _report(run)
    assert resumed["resumed"] and resumed["fields_kept"] == whole["fields_kept"]
    assert abs(resumed["auc"] - whole["auc"]) <= 0.002, (resumed["auc"], whole["auc"])
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3, 4]
    assert not (run / "checkpoint.pt").exists()  # the finished run folder replaced it
    assert resumed["pretrain_seconds"] > 0  # the choice's time, from the checkpoint


def test_corrupt_or_mismatched_checkpoint_is_refused(data, tmp_path):
    run = tmp_path / "run"
    res = _lightfmp("train", "--data", data, "--out", run, *SMALL, "--resume", check=False)
    assert res.returncode == 2 and "no checkpoint to resume from" in res.stderr
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"\x00" * 100)
    res = _lightfmp("train", "--data", data, "--out", run, *SMALL, "--resume", check=False)
    assert res.returncode == 2 and "corrupt or truncated" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    from lightfmp.train.checkpoint import save_checkpoint

    save_checkpoint(run / "checkpoint.pt", {"method": "none", "model": "xdeepfm"}, "training", trainer={})
    res = _lightfmp("train", "--data", data, "--out", run, *SMALL, "--resume", check=False)
    assert res.returncode == 2 and "different run" in res.stderr and "'xdeepfm' in the checkpoint" in res.stderr


def test_diverged_continued_training_names_phase_and_keeps_checkpoint(data, tmp_path):
    run = tmp_path / "nan"
    res = _lightfmp("prune", "--data", data, "--out", run, *SMALL[:-3], "--lr", "1e20", "--quiet", check=False)
    line = res.stderr.strip().splitlines()
    assert res.returncode == 1 and len(line) == 1, res.stderr
    assert "continued training: the loss is" in line[0] and "epoch 1, step" in line[0]
    assert "last good checkpoint is kept" in line[0]
    assert torch.load(run / "checkpoint.pt", weights_only=True)["phase"] == "pruned"
