"""The allocator setting: freed step-sized tensors are reused instead of re-mapped (no page faults)."""
from __future__ import annotations

import platform
import resource

import pytest
import torch

from lightfmp.models import ModelConfig, build_model
from lightfmp.train import TrainConfig, allocator, fit

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="mallopt settings are glibc's")


def _faults_per_alloc(n: int = 6, mb: int = 64, warmup: int = 6) -> float:
    """Minor page faults per allocate-fill-free of a `mb` MiB tensor, after `warmup` rounds (the heap
    grows over the first few while smaller allocations split the freed block)."""
    for _ in range(warmup):
        torch.empty(mb << 18).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        t = torch.empty(mb << 18)
        t.fill_(1.0)
        del t
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n


@glibc
def test_freed_memory_is_reused_without_page_faults():
    assert allocator.reuse_freed_memory() is True
    assert allocator.applied()
    assert allocator.reuse_freed_memory() is True  # idempotent
    # 64 MiB is 16,384 pages: glibc's default maps and faults every one of them again at each round.
    assert _faults_per_alloc() < 1000


def test_fit_applies_it_unless_turned_off(monkeypatch):
    calls = []
    monkeypatch.setattr("lightfmp.train.trainer.reuse_freed_memory", lambda: calls.append(1) or True)
    X = torch.randint(0, 3, (64, 2)).numpy()
    y = (X[:, 0] == 1).astype("float32")
    model = build_model("dnn", [4, 4], ModelConfig(embed_dim=2, hidden=(4,)))
    fit(model, (X, y), None, TrainConfig(epochs=1, batch_size=32), progress=False)
    assert calls == [1]
    fit(model, (X, y), None, TrainConfig(epochs=1, batch_size=32, reuse_freed_memory=False), progress=False)
    assert calls == [1]
