"""`bench/reproduce.py --quick` end to end on the Criteo sample: every method of Table 2 runs, and the
results page is written with every section (table-writing code has crashed before only after the runs).
The figures in results/ come from the full grid, not from this."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / ".." / "shared" / "data" / "criteo_kaggle_sample"


def test_reproduce_quick_writes_every_section(tmp_path):
    if not SAMPLE.exists():
        pytest.skip(f"shared data not available: {SAMPLE}")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    results = tmp_path / "results"
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "reproduce.py"), "--quick", "--datasets", "criteo",
                          "--work", str(tmp_path / "work"), "--results", str(results)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    page = (results / "README.md").read_text()
    for section in ("## Table 2", "## Table 3", "## Against the paper's claims", "## Equal training rows",
                    "## Where the training time goes", "## Timing on the larger synthetic set", "## Figures"):
        assert section in page, section
    assert "| criteo | Light-FMP |" in page and "| synthetic | Light-FMP |" in page  # the stage splits
    assert "Table 3 at this size" in page and "| PNN |" in page
    assert (results / "fig2a_time.png").read_bytes()[:4] == b"\x89PNG"
