"""`lightfmp prune --keep flops=SHARE`: fields, hidden units and CIN maps pruned jointly to one budget."""
from __future__ import annotations

import json
from pathlib import Path

from lightfmp.cli import exit_status

FAST = ["--hidden", "64,32", "--embed-dim", "4", "--epochs", "1", "--batch-size", "512", "--quiet",
        "--pretrain-max-steps", "60"]


def test_budget_run_reports_its_structure_within_the_budget(synthetic_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert exit_status(["prune", "--data", str(synthetic_data), *FAST, "--keep", "flops=0.2", "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    layers = rep["structure"]["layers"]
    flops_before = sum(layer["flops_before"] for layer in layers)
    flops_after = sum(layer["flops_after"] for layer in layers)
    assert rep["budget"] == "flops=0.2" and flops_after <= 0.2 * flops_before + 1e-9
    assert rep["prune_ratio"] == 1 - len(rep["fields_kept"]) / rep["fields_total"]  # tau is what was pruned
    assert "budget                        flops=0.2" in capsys.readouterr().out


def test_a_bad_budget_is_one_line_before_any_work(synthetic_data: Path, tmp_path: Path, capsys) -> None:
    code = exit_status(["prune", "--data", str(synthetic_data), *FAST, "--keep", "flops=2", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--keep" in err[0] and not (tmp_path / "r").exists()
