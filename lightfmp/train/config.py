"""Training hyper-parameters: one frozen dataclass, defaults beside the code.

Defaults follow the paper's experimental set-up (Adam, lr 1e-3, batch 4096, embedding L2 1e-5) and the
BARS DNN_criteo_x1 recipe for early stopping (patience 2 on validation AUC).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """How `lightfmp.train.fit` trains a model.

    Attributes:
        lr: Adam learning rate for every parameter (dense and embedding).
        batch_size: training mini-batch size (paper: 4096).
        epochs: maximum number of passes over the training split.
        patience: epochs without a validation-AUC improvement before stopping; the best state is restored.
        embed_l2: L2 weight on the embedding rows a batch touched (paper: 1e-5); see `lightfmp.train.optim`.
        weight_decay: L2 (coupled, torch Adam style) on the dense parameters; 0 as in the paper.
        sparse_embeddings: train `FieldTable` weights with sparse gradients and row-wise lazy Adam (RowAdam);
            False gives the textbook dense Adam over the whole table. None (the default) picks per device
            and table (`sparse_table`): on CUDA dense fused Adam, where that step is one bandwidth-bound
            kernel and RowAdam's index kernels cost more (H100, `bench/profile_step.py`, batch 4096: DNN
            3.21 vs 4.20 ms a step, xDeepFM 11.4 vs 13.8, xDeepFM on 19 fields 6.05 vs 9.45); on CPU
            RowAdam for a table of more than `dense_table_max_params` parameters, where a dense step
            over a 1.29M-row table costs more than the MLP, and dense Adam for a smaller one.
        dense_table_max_params: on CPU with `sparse_embeddings` None, a table of at most this many
            parameters keeps dense gradients and dense Adam. Why: lazy Adam leaves an untouched row
            where it is, dense Adam keeps moving it with its decaying momentum, and on small data that
            costs accuracy. Measured on the Criteo sample (DNN, batch 256, 10 seeds, test AUC): RowAdam
            0.7373 +- 0.0041, dense Adam 0.7394 +- 0.0065; DeepCTR-Torch (dense Adam) 0.7433. And a
            dense step is no slower there (`bench/table_optimizer.py --batch-size 256` and
            `--batch-size 4096`): DNN step, one thread, Zipf ids, ms dense / RowAdam, at batch
            256: 25.7 / 25.3 (10k-row table), 28.1 / 27.8 (100k), 33.5 / 27.8 (300k), 64.9 / 28.3 (1M);
            at batch 4096: 340 / 331 (10k), 341 / 338 (100k), 358 / 338 (300k). 1M parameters is a
            100k x 10 table: the samples in ../shared/data (at most ~10k rows) train dense, a
            Criteo-sized table (1.29M rows) row-wise.
        cuda_graphs: on CUDA, capture the training step once as a CUDA graph and replay it for every
            full batch (`lightfmp.train.cuda_graph`): the step is otherwise bound by kernel launches.
            Used only where it applies (one process, dense tables, no extra loss); else ignored.
        tf32: on CUDA, let `fit` run float32 matmuls on TF32 tensor cores (10-bit mantissa inputs,
            float32 accumulation), restored on return. xDeepFM's CIN is matmul-bound there. No effect on CPU.
        device: "cpu" or "cuda".
        seed: seeds torch and numpy before the model is trained (and the epoch shuffles).
        eval_batch_size: batch size for evaluation only (no gradients, so larger is cheaper).
        threads: torch intra-op threads on CPU; None keeps torch's default.
        in_memory_max_bytes: a training split whose int32 ids fit in this many bytes is copied to the
            device once and shuffled whole (`DeviceBatches`); a larger one is streamed chunk by chunk from
            its memory map (`StreamBatches`), as is every split of a data-parallel run.
        stream_chunk_rows: rows read (and shuffled together) per chunk when streaming.
        reuse_freed_memory: on CPU, set glibc's allocator (process-wide, once) to keep freed memory for
            reuse instead of unmapping it (`lightfmp.train.allocator`): without it every step maps and
            zero-fills its large activations again (xDeepFM at batch 4096: 6.1-6.4 s a step, 3.9-4.4 s
            with it, on the 2-core AMD VM). The process then keeps its peak heap resident.
    """

    lr: float = 1e-3
    batch_size: int = 4096
    epochs: int = 10
    patience: int = 2
    embed_l2: float = 1e-5
    weight_decay: float = 0.0
    sparse_embeddings: bool | None = None
    dense_table_max_params: int = 1_000_000
    tf32: bool = True
    cuda_graphs: bool = True
    device: str = "cpu"
    seed: int = 0
    eval_batch_size: int = 65536
    threads: int | None = None
    in_memory_max_bytes: int = 2 << 30
    stream_chunk_rows: int = 1 << 18
    reuse_freed_memory: bool = True

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
