"""`bench/table_optimizer.py --coalesce` at a tiny size: both duplicate-row sums are timed on one and
two threads, one line per (table, batch, threads). The figures are for the real run (1.29M rows)."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_coalesce_timing_runs_at_small_n():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "table_optimizer.py"), "--coalesce", "--rows", "20000",
                          "--batches", "16,64"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = re.findall(r"^\s+20,000\s+([\d,]+)\s+([12])\s+([\d.]+)\s+([\d.]+)$", res.stdout, re.M)
    assert [(ids, t) for ids, t, _, _ in lines] == [("624", "1"), ("624", "2"), ("2,496", "1"), ("2,496", "2")], res.stdout
    assert all(float(m) > 0 and float(s) > 0 for _, _, m, s in lines)
