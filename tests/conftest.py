"""Shared, session-scoped fixtures: small prepared data folders every test folder can use.

Each fixture returns the path of a prepared data folder (open it with
``lightfmp.data.dataset.PreparedData.load(path)``). The real samples are read from
``../shared/data`` relative to the repository root and never copied; their fixtures skip when
that folder is absent.
"""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

SYNTHETIC_ROWS = 20_000


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or a skip when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    return shared_path()


def _prepare(tmp_path_factory: pytest.TempPathFactory, name: str, fmt: str, input: Path | None, **kw) -> Path:
    from lightfmp.data.prepare import prepare

    out = tmp_path_factory.mktemp("prepared") / name
    prepare(fmt, input, out, progress=False, **kw)
    return out


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 synthetic Criteo-shaped rows (39 fields, truth.json), seed 2021, D_S = 2,000 rows."""
    return _prepare(tmp_path_factory, "synthetic", "synthetic", None, rows=SYNTHETIC_ROWS, seed=2021)


@pytest.fixture(scope="session")
def criteo_sample_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 8,000-row real Criteo sample (wide_resdnn folder), 39 fields, D_S = 2,000 rows."""
    src = shared_path("criteo_kaggle_sample", "wide_resdnn")
    return _prepare(tmp_path_factory, "criteo", "criteo", src)


@pytest.fixture(scope="session")
def avazu_sample_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 8,999-row real Avazu sample (header only in train.csv), 24 fields, D_S = 2,000 rows."""
    src = shared_path("avazu_sample", "wide_resdnn")
    return _prepare(tmp_path_factory, "avazu", "avazu", src)


@pytest.fixture(scope="session")
def movielens_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MovieLens 100K with user and item side features, label rating >= 4, D_S = 2,000 rows."""
    src = shared_path("movielens_100k")
    return _prepare(tmp_path_factory, "movielens", "movielens", src)


# Tests marked by cost: `python -m pytest -q` (the README's command, and CI) runs everything;
# `python -m pytest -q -m "not slow"` is the edit loop. Slow = end-to-end subprocess runs (torchrun,
# SIGKILL/resume), bench smoke runs and ONNX export: each takes several seconds or more.
SLOW_MODULES = ("tests/bench/", "tests/cli/test_distributed_resume.py", "tests/export/", "tests/pruning/test_joint.py",
                "tests/train/test_allocator.py", "tests/train/test_table_grad_sync.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parents[1]
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(root).as_posix()
        if rel.startswith(SLOW_MODULES):
            item.add_marker(pytest.mark.slow)
