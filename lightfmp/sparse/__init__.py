"""Sparse training: per-tensor masks at a fixed density kept through training (DSL and its comparators), and
the compressed storage of the sparse model. See `lightfmp.sparse.training.SparseTraining`."""
from lightfmp.sparse.dsl import prune_and_regrow
from lightfmp.sparse.masks import active_count, default_targets
from lightfmp.sparse.schedule import UpdateSchedule, cosine_rate
from lightfmp.sparse.storage import load_sparse, pack_state, save_sparse, unpack_state
from lightfmp.sparse.training import SparseTraining
from lightfmp.sparse.variants import VARIANTS, Variant, get_variant

__all__ = ["SparseTraining", "UpdateSchedule", "VARIANTS", "Variant", "active_count", "cosine_rate",
           "default_targets", "get_variant", "load_sparse", "pack_state", "prune_and_regrow", "save_sparse",
           "unpack_state"]
