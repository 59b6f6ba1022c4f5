"""Sparse training: per-tensor masks at a fixed density kept through training (DSL and its comparators), and
the compressed storage of the sparse model. See `lightfmp.sparse.training.SparseTraining`.

`SparseConfig` is torch-free and imported at once (the CLI reads its fields); the rest loads on first use.
"""
from __future__ import annotations

from lightfmp.lazy import lazy_exports
from lightfmp.sparse.config import SparseConfig

_LAZY = {"prune_and_regrow": "dsl", "active_count": "masks", "default_targets": "masks",
         "UpdateSchedule": "schedule", "cosine_rate": "schedule", "load_sparse": "storage", "pack_state": "storage",
         "save_sparse": "storage", "unpack_state": "storage", "SparseTraining": "training", "VARIANTS": "variants",
         "Variant": "variants", "get_variant": "variants"}


__getattr__ = lazy_exports("lightfmp.sparse", _LAZY, globals())

__all__ = ["SparseConfig", *_LAZY]
