"""The run folder (report.json, model.pt, schema.json, vocab.parquet, config.json), its report, and
the rules for where a verb may write (`outputs`, torch-free so that `prepare` stays light).

Re-exported lazily: importing ``lightfmp.runs.outputs`` does not load torch."""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Run": "lightfmp.runs.folder", "load_run": "lightfmp.runs.folder", "write_run": "lightfmp.runs.folder",
    "write_task_run": "lightfmp.runs.folder", "REQUIRED_KEYS": "lightfmp.runs.report",
    "make_report": "lightfmp.runs.report", "make_task_report": "lightfmp.runs.report",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lightfmp.runs' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
