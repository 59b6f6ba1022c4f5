"""`bench/scale.py` at a CI-sized N (issue 7: "CI runs it only at a small N"): the Criteo-format file is
generated, prepared and streamed from its memory map, and the 1-vs-2-process comparison runs and reports
identical ranks. The figures themselves are for the real run (`--rows 45000000`, `--scaling` at 1M)."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scale_bench_runs_at_small_n(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--rows", "20000", "--train-steps", "3",
                          "--scaling", "--epochs", "1", "--repeat", "2", "--batch-size", "1024", "--workdir", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    assert re.search(r"prepare: [\d.]+ s, [\d,]+ rows/s, peak RSS [\d.]+ GB", out), out
    assert re.search(r"train \(DNN, streamed from the memory map, 3 steps of 1024", out), out
    assert out.count("ranks identical: True") == 2, out
    m = re.search(r"ratio ([\d.]+)x \(median of 2", out)
    assert m and float(m.group(1)) > 0, out
    assert not any(p.name.startswith("scale_prepared") for p in tmp_path.iterdir())  # cleaned up without --keep
