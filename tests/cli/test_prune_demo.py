"""`lightfmp prune` and `lightfmp demo` end to end (small models, one epoch)."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lightfmp.cli import main
from lightfmp.runs import REQUIRED_KEYS, load_run

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
FAST = ["--hidden", "64,32", "--embed-dim", "8", "--epochs", "1", "--batch-size", "2048", "--quiet",
        "--pretrain-max-steps", "80"]


def test_prune_on_criteo_sample_writes_a_complete_run(criteo_sample_data, tmp_path, capsys):
    from lightfmp.data.dataset import PreparedData

    out = tmp_path / "run"
    main(["prune", "--data", str(criteo_sample_data), "--prune-ratio", "0.5", "--pretrain-size", "2000",
          "--out", str(out), "--json", "--plot", *FAST])
    cap = capsys.readouterr()
    printed = json.loads(cap.out)
    report = json.loads((out / "report.json").read_text())
    assert printed["auc"] == report["auc"]
    assert "note:" not in cap.err  # no Criteo field is mostly unknown inside D_S
    assert max(report["pretrain_unknown_share"].values()) < 0.8
    assert set(REQUIRED_KEYS) <= set(report)
    assert report["method"] == "lightfmp" and report["prune_ratio"] == 0.5 and report["pretrain_rows"] == 2000
    assert report["fields_total"] == 39 and len(report["fields_pruned"]) == 20 and len(report["fields_kept"]) == 19
    assert set(report["mask"]) == set(report["fields_kept"]) | set(report["fields_pruned"])
    assert report["params_after"] < report["params_before"]
    assert report["total_seconds"] == pytest.approx(report["pretrain_seconds"] + report["continued_seconds"])
    assert report["inference_seconds"] > 0 and 0.0 <= report["auc"] <= 1.0
    assert (out / "mask_heatmap.png").read_bytes()[:4] == b"\x89PNG"

    # the saved compact model reads the kept fields only, and reproduces the report's test AUC
    run = load_run(out)
    assert run.schema.names == report["fields_kept"]
    data = PreparedData.load(criteo_sample_data)
    keep = [data.schema.names.index(n) for n in run.schema.names]
    X, y = data.split("test")
    from lightfmp.train import evaluate

    res = evaluate(run.model, np.asarray(X)[:, keep], y)
    assert res.auc == pytest.approx(report["auc"], abs=1e-6)

    # `lightfmp predict` scores a raw file through the run folder (kept fields only)
    raw = SHARED / "criteo_kaggle_sample" / "wide_resdnn" / "test.csv"
    if not raw.exists():
        pytest.skip(f"shared data not available: {raw}")
    scores = tmp_path / "scores.csv"
    main(["predict", "--run", str(out), "--input", str(raw), "--out", str(scores)])
    lines = scores.read_text().splitlines()
    assert lines[0] == "probability" and len(lines) > 100
    p = np.array([float(v) for v in lines[1:]])
    assert ((p > 0) & (p < 1)).all()


def test_prune_scratch_init_differs(criteo_sample_data, tmp_path, capsys):
    outs = {}
    for init in ("pretrained", "scratch"):
        main(["prune", "--data", str(criteo_sample_data), "--init", init, "--out", str(tmp_path / init),
              "--rare-min-count", "3", "--json", *FAST])
        outs[init] = json.loads(capsys.readouterr().out)
        config = json.loads((tmp_path / init / "config.json").read_text())
        assert config["pretrain_config"]["rare_min_count"] == 3
    assert outs["scratch"]["init"] == "scratch" and outs["pretrained"]["init"] == "pretrained"
    assert outs["scratch"]["fields_kept"] == outs["pretrained"]["fields_kept"]  # same mask, same seed
    assert outs["scratch"]["auc"] != outs["pretrained"]["auc"]


def test_prune_bad_input_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["prune", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r"), *FAST])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("lightfmp: error:") and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_demo_prints_the_table(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIGHTFMP_CACHE", str(tmp_path / "cache"))
    main(["demo", "--rows", "5000", "--epochs", "1", "--hidden", "32", "--batch-size", "1024", "--quiet"])
    out = capsys.readouterr().out
    assert "No Selection" in out and "Light-FMP" in out and "AUC" in out and "planted informative" in out
    assert re.search(r"interaction-only pair \(C\d+, C\d+;.*\) kept: [0-2]/2", out)  # the pair's fate is told
    for name in ("no_selection", "lightfmp"):
        assert (tmp_path / "runs" / "demo" / name / "report.json").exists()


def test_prune_says_when_a_pruned_field_was_mostly_unknown_to_the_mask(avazu_sample_data, tmp_path, capsys):
    """Avazu's device_ip is 94% OOV inside D_S (rare IPs, and the rare-value guard): the mask cannot
    judge it, it is pruned, and the user is told how to let the mask see it or keep it."""
    out = tmp_path / "run"
    main(["prune", "--data", str(avazu_sample_data), "--out", str(out), "--json", *FAST])
    cap = capsys.readouterr()
    report = json.loads(cap.out)
    assert report["pretrain_unknown_share"]["device_ip"] > 0.9 and "device_ip" in report["fields_pruned"]
    notes = [line for line in cap.err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith("note: device_ip was pruned")
    assert "--rare-min-count 3" in notes[0] and "--keep-fields device_ip" in notes[0]
