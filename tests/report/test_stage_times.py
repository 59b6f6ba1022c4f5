"""The stage split of two-stage methods: shares of No Selection's TT, paired by data set and seed."""
import json

import pytest

from lightfmp.report.tables import stage_times, stage_times_data


def _run(tmp_path, method, seed, pt, ct, steps=None, batch=None):
    folder = tmp_path / f"{method}-{seed}"
    folder.mkdir()
    cfg = {"train_config": {"batch_size": 256}}
    report = {"method": method, "model": "xdeepfm", "dataset": "criteo", "seed": seed, "prune_ratio": 0.5,
              "auc": 0.7, "logloss": 0.5, "train_rows": 6400, "pretrain_seconds": pt, "continued_seconds": ct,
              "total_seconds": pt + ct, "_path": str(folder)}
    if method == "lightfmp":
        report["pretrain_steps"], cfg["pretrain_config"] = steps, {"batch_size": batch}
    elif method != "none":
        report["search_steps"] = steps
    (folder / "config.json").write_text(json.dumps(cfg))
    return report


def test_stages_are_shares_of_no_selection_paired_by_seed(tmp_path):
    reports = [_run(tmp_path, "none", 0, 0.0, 4.0), _run(tmp_path, "none", 1, 0.0, 8.0),
               _run(tmp_path, "lightfmp", 0, 2.0, 1.0, steps=160, batch=128),
               _run(tmp_path, "lightfmp", 1, 2.0, 2.0, steps=160, batch=128),
               _run(tmp_path, "optem", 0, 1.0, 2.0, steps=50)]
    rows = stage_times_data(reports)["rows"]
    lf = rows["lightfmp"]["criteo"]
    assert lf["stage1"][0] == pytest.approx((2 / 4 + 2 / 8) / 2)   # each seed against its own No Selection
    assert lf["stage2"][0] == pytest.approx((1 / 4 + 2 / 8) / 2)
    assert lf["tt"][0] == pytest.approx((3 / 4 + 4 / 8) / 2) and lf["tt"][2] == 2
    assert lf["passes"][0] == pytest.approx(160 * 128 / 6400)        # pretraining batch, not the training one
    assert rows["optem"]["criteo"]["passes"][0] == pytest.approx(50 * 256 / 6400)
    assert "optfs" not in rows and "none" not in rows
    assert "| criteo | Light-FMP | 0.375 ± 0.177 | 0.250 ± 0.000 |" in stage_times(reports)
