"""`bench/train_throughput.py` at a tiny size without the peer: it applies our allocator setting (as
`fit` does) and prints the throughput and embedding-update tables."""
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_throughput_bench_runs_small():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "train_throughput.py"), "--rows", "4096",
                          "--batch-size", "1024", "--models", "dnn", "--no-peer", "--update-steps", "2",
                          "--repeat", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert ("allocator: freed memory reused (ours)" if glibc else "allocator: C library defaults") in out
    assert "throughput, samples/s, batch 1024" in out and "of bare MLP" in out
    assert "sparse grads + RowAdam (ours)" in out
