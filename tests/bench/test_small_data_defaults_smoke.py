"""`bench/small_data_defaults.py` on one small sample, one seed, one epoch: it trains the default DNN
through `lightfmp train`'s own option parsing, fits the validation-tuned LR, and prints the table row
with the batch size the library chose; its exit status follows the PASS/FAIL column."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lightfmp.train.config import auto_batch_size

ROOT = Path(__file__).resolve().parents[2]


def test_small_data_defaults_bench_runs_on_one_sample(tmp_path):
    if not (ROOT / ".." / "shared" / "data" / "criteo_kaggle_sample").exists():
        pytest.skip("shared data not available")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", LIGHTFMP_CACHE=str(tmp_path / "cache"))
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "small_data_defaults.py"), "--samples",
                          "criteo_kaggle_sample", "--seeds", "0", "--epochs", "1"],
                         capture_output=True, text=True, env=env, timeout=300)
    row = re.search(r"^\s*criteo_kaggle_sample\s+([\d,]+)\s+([\d,]+)\s+(0\.\d{4}) \+- 0\.0000\s+0\.\d{4}\s+(0\.\d{4})"
                    r"\s+0\.\d{4}\s+[\d.e-]+\s+([+-]0\.\d{4})\s+(PASS|FAIL)$", res.stdout, re.M)
    assert row, res.stdout + res.stderr[-3000:]
    rows, batch = int(row.group(1).replace(",", "")), int(row.group(2).replace(",", ""))
    assert rows == 6_400 and batch == auto_batch_size(rows)  # chosen by the library, not by the bench
    assert abs(float(row.group(3)) - float(row.group(4)) - float(row.group(5))) < 2e-4
    assert res.returncode == (0 if row.group(6) == "PASS" else 1), res.stderr[-3000:]
