"""Training hyper-parameters: one frozen dataclass, defaults beside the code.

Defaults follow the paper's experimental set-up (Adam, lr 1e-3, batch 4096, embedding L2 1e-5) and the
BARS DNN_criteo_x1 recipe for early stopping (patience 2 on validation AUC); the batch is the paper's
4096 on large data and smaller on small data, chosen from the training rows (`auto_batch_size`).
"""
from __future__ import annotations

import math

from dataclasses import asdict, dataclass, replace
from typing import Any

from lightfmp.knobs import knob

# `auto_batch_size`: the paper's batch on large data, about 200 steps an epoch below it.
LARGE_BATCH = 4096
SMALL_BATCH = 32
STEPS_PER_EPOCH = 200


def auto_batch_size(rows: int) -> int:
    """The default training batch for ``rows`` training rows (``TrainConfig.batch_size=None``).

    Rule: about ``STEPS_PER_EPOCH`` (200) optimizer steps an epoch -- the power of two nearest
    ``rows / 200`` -- clipped to [32, 4096]: the paper's 4,096 from ~580,000 training rows up, 512 for
    80,000 rows, 32 for the 8K samples. Why: at 4,096 a sample of a few thousand rows gets one or two
    steps an epoch and early stopping ends the run before the model has learnt; on the samples the
    first pass's step count is what matters, and ~200 beat ~100 on 5 of 6 data sets (validation only).
    Evidence: docs/decisions.md#automatic-batch-size and #small-data-training-defaults-kept;
    re-measure: `python bench/small_data_defaults.py`.
    """
    rows = max(int(rows), 1)
    nearest = 2 ** round(math.log2(max(rows / STEPS_PER_EPOCH, 1.0)))
    return int(min(LARGE_BATCH, max(SMALL_BATCH, nearest)))


@dataclass(frozen=True)
class TrainConfig:
    """How `lightfmp.train.fit` trains a model: each field's default and help stand beside it (`lightfmp.knobs`;
    the CLI's options are read from them).

    Defaults that were measured, with the evidence and the command that re-measures them, in
    docs/decisions.md: table optimizers (#dense-adam-for-small-tables-on-cpu,
    #dense-fused-adam-for-tables-on-cuda, #row-wise-lazy-adam-for-large-tables), the allocator
    (#glibc-allocator-keeps-freed-memory), CUDA graphs (#cuda-graphs-for-the-training-step), streaming
    (#streaming-batches-from-the-memory-map), early stopping (#early-stopping).
    ``sparse_embeddings`` None picks per device and table (`sparse_table`): dense fused Adam on CUDA;
    on CPU RowAdam for a table above ``dense_table_max_params`` parameters, dense Adam below.
    """

    lr: float = knob(1e-3, "Adam learning rate.", flag="--lr", min=0.0, min_open=True)
    batch_size: int | None = knob(None, "Training batch. Default: chosen from the training rows, about 200 steps an "
                                  "epoch (the power of two nearest rows/200, within 32..4096): the paper's 4096 from "
                                  "~580k rows up, e.g. 32 for 6,400 rows, 512 for 80,000.", flag="--batch-size",
                                  show="auto", min=1)
    epochs: int = knob(10, "Maximum passes over the training split.", flag="--epochs", min=1)
    patience: int = knob(2, "Early stopping patience: epochs without a better validation metric (CTR: AUC).", flag="--patience", min=0)
    embed_l2: float = knob(1e-5, "L2 on the embedding rows a batch touched (paper: 1e-5).")
    weight_decay: float = knob(0.0, "L2 on the dense parameters (torch Adam style).")
    sparse_embeddings: bool | None = knob(None, "Sparse table gradients + RowAdam (None: by device and table size).")
    dense_table_max_params: int = knob(1_000_000, "On CPU, tables up to this size keep dense Adam.")
    tf32: bool = knob(True, "On CUDA, TF32 matmuls during fit.")
    cuda_graphs: bool = knob(True, "On CUDA, replay the training step as a CUDA graph.")
    device: str = knob("cpu", "cpu or cuda.", flag="--device", choices=("cpu", "cuda"))
    seed: int = knob(0, "Training seed (the split is fixed).", flag="--seed")
    eval_batch_size: int = knob(65536, "Batch size of evaluation passes.")
    threads: int | None = knob(None, "torch intra-op threads on CPU (None: torch's default).")
    in_memory_max_bytes: int = knob(2 << 30, "A training split up to this many bytes is held on the device.")
    stream_chunk_rows: int = knob(1 << 18, "Rows per chunk when streaming a split from its memory map.")
    reuse_freed_memory: bool = knob(True, "On CPU, keep freed memory for reuse (glibc allocator setting).")

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if (self.batch_size is not None and self.batch_size < 1) or self.eval_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience}")
        if self.in_memory_max_bytes < 0 or self.stream_chunk_rows < 1:
            raise ValueError("in_memory_max_bytes must be >= 0 and stream_chunk_rows >= 1")
        if self.dense_table_max_params < 0:
            raise ValueError(f"dense_table_max_params must be >= 0, got {self.dense_table_max_params}")
        if self.embed_l2 < 0 or self.weight_decay < 0:
            raise ValueError("embed_l2 and weight_decay must be >= 0")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")

    @property
    def sparse_tables(self) -> bool:
        """Whether any table may get sparse gradients + RowAdam: `sparse_embeddings`, or by device when None."""
        if self.sparse_embeddings is not None:
            return bool(self.sparse_embeddings)
        return not self.device.startswith("cuda")

    def sparse_table(self, num_params: int) -> bool:
        """Whether a table of `num_params` parameters gets sparse gradients + RowAdam (see the attributes)."""
        if self.sparse_embeddings is not None:
            return bool(self.sparse_embeddings)
        return self.sparse_tables and int(num_params) > self.dense_table_max_params

    def resolved(self, rows: int) -> "TrainConfig":
        """This config with `batch_size` set: kept if given, else `auto_batch_size(rows)` (training rows)."""
        if self.batch_size is not None:
            return self
        return replace(self, batch_size=auto_batch_size(rows))

    def batch_note(self, rows: int) -> str:
        """One line saying which batch size `resolved(rows)` trains with and why (for stderr)."""
        if self.batch_size is not None:
            return f"batch size {self.batch_size:,} (set)"
        return f"batch size {auto_batch_size(rows):,} (chosen from {int(rows):,} training rows; --batch-size sets it)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
