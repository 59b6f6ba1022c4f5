"""lightfmp: Light-FMP feature and model pruning for deep CTR recommenders.

The public API, re-exported lazily (PEP 562) so that ``import lightfmp`` stays cheap (the CLI and
``lightfmp.data`` never pay for torch) and submodules may import ``lightfmp.__version__`` freely::

    from lightfmp import LightFMP, open_data
    data = open_data(fmt="synthetic", rows=50_000)
    est = LightFMP(model="dnn", prune_ratio=0.5, pretrain_size=2000).fit(data)
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # data
    "Schema": "lightfmp.data.schema",
    "FieldSpec": "lightfmp.data.schema",
    "PreparedData": "lightfmp.data.dataset",
    "open_data": "lightfmp.data.open",
    "prepare": "lightfmp.data.prepare",
    # models
    "ModelConfig": "lightfmp.models.config",
    "build_model": "lightfmp.models",
    "MODELS": "lightfmp.models",
    # Light-FMP
    "GateConfig": "lightfmp.pruning.gates",
    "HardConcreteGate": "lightfmp.pruning.gates",
    "LagrangianConstraint": "lightfmp.pruning.lagrangian",
    "PretrainConfig": "lightfmp.pruning.pretrain",
    "pretrain": "lightfmp.pruning.pretrain",
    "prune_fields": "lightfmp.pruning.slicing",
    "LightFMP": "lightfmp.pruning.lightfmp",
    "mask_sweep": "lightfmp.pruning.lightfmp",
    "count_params": "lightfmp.pruning.steps",
    "RunResult": "lightfmp.experiment",
    "save_run": "lightfmp.experiment",
    # training and runs
    "TrainConfig": "lightfmp.train.config",
    "fit": "lightfmp.train",
    "evaluate": "lightfmp.train",
    "make_report": "lightfmp.runs",
    "write_run": "lightfmp.runs",
    "load_run": "lightfmp.runs",
    "Run": "lightfmp.runs",
    # plots
    "plot_mask_heatmap": "lightfmp.plots",
    "mask_heatmap_from_reports": "lightfmp.plots",
    # errors
    "InputError": "lightfmp.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lightfmp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
