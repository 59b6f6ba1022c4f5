"""The allocator setting: freed step-sized tensors are reused instead of re-mapped (no page faults)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightfmp.models import ModelConfig, build_model
from lightfmp.train import TrainConfig, fit

ROOT = Path(__file__).resolve().parents[2]

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="mallopt settings are glibc's")


_PROBE = """
import resource, sys, torch
from lightfmp.train import allocator, fit  # as in training: fit's imports come before its first step
if sys.argv[1] == "on":
    assert allocator.reuse_freed_memory() is True and allocator.applied()
    assert allocator.reuse_freed_memory() is True  # idempotent
for _ in range(6):  # the heap grows over the first rounds while small allocations split the freed block
    torch.empty(64 << 18).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):
    t = torch.empty(64 << 18)
    t.fill_(1.0)
    del t
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 6)
"""


def _faults_per_alloc(mode: str) -> float:
    """Minor page faults per allocate-fill-free of a 64 MiB tensor in a fresh process (a clean heap:
    inside the test session other tests' allocations fragment it)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return float(res.stdout.split()[-1])


@glibc
def test_freed_memory_is_reused_without_page_faults():
    # 64 MiB is 16,384 pages: glibc's defaults map and fault every one of them again at each round.
    assert _faults_per_alloc("off") > 10_000
    assert _faults_per_alloc("on") < 1000


def test_fit_applies_it_unless_turned_off(monkeypatch):
    calls = []
    monkeypatch.setattr("lightfmp.train.allocator.reuse_freed_memory", lambda: calls.append(1) or True)
    X = torch.randint(0, 3, (64, 2)).numpy()
    y = (X[:, 0] == 1).astype("float32")
    model = build_model("dnn", [4, 4], ModelConfig(embed_dim=2, hidden=(4,)))
    fit(model, (X, y), None, TrainConfig(epochs=1, batch_size=32), progress=False)
    assert calls == [1]
    fit(model, (X, y), None, TrainConfig(epochs=1, batch_size=32, reuse_freed_memory=False), progress=False)
    assert calls == [1]
