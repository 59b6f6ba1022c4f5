"""Imports flow one way: data -> nn -> models -> train/pruning -> selection -> experiment (the pipeline) -> cli
(docs/architecture.md)."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "lightfmp"

# package -> lightfmp subpackages it must never import
FORBIDDEN = {
    "data": {"nn", "models", "pruning", "train", "selection", "runs", "cli", "report", "experiment"},
    "nn": {"models", "pruning", "train", "selection", "runs", "cli", "report", "experiment"},
    "models": {"pruning", "train", "selection", "runs", "cli", "report", "experiment"},
    "train": {"pruning", "selection", "cli", "report", "experiment"},
    "runs": {"pruning", "selection", "cli", "report", "experiment"},
    "pruning": {"selection", "runs", "cli", "report", "experiment"},
    "selection": {"runs", "cli", "report", "experiment"},
    "sparse": {"train", "pruning", "selection", "runs", "cli", "report", "experiment"},
    "topk": {"pruning", "selection", "runs", "cli", "report", "experiment", "sparse"},
    "sequential": {"selection", "runs", "cli", "report", "experiment", "sparse", "topk"},
    "tasks": {"data", "nn", "models", "pruning", "train", "selection", "runs", "cli", "report", "experiment"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _cases():
    for pkg, banned in FORBIDDEN.items():
        for path in sorted((PKG / pkg).rglob("*.py")):
            yield pytest.param(path, banned, id=str(path.relative_to(PKG)))


@pytest.mark.parametrize("path,banned", list(_cases()))
def test_imports_flow_one_way(path, banned):
    bad = sorted(m for m in _imports(path) if m.startswith("lightfmp.") and m.split(".")[1] in banned)
    assert not bad, f"{path.name} imports {bad}"


def test_data_layer_needs_no_torch():
    for path in (PKG / "data").rglob("*.py"):
        assert not any(m == "torch" or m.startswith("torch.") for m in _imports(path)), path
