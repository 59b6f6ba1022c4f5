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
    ``rows / 200`` -- clipped to [32, 4096]. So the paper's 4,096 from ~580,000 training rows up
    (33M Criteo rows: 4,096, as before), 2,048 from ~290,000, 1,024 from ~145,000, 512 for the
    MovieLens samples (80,000 rows), 128 for 32,000 rows, 64 for 14,798 (criteo_kaggle_18k), 32 for
    the Criteo and Avazu samples (6,400 and 7,199 rows) and below. Why: at the paper's 4,096 a sample
    of a few thousand rows gets one or two steps an epoch and early stopping ends the run before the
    model has learnt (issue 23: 40,000 CSV rows, test AUC 0.61 at 4,096, 0.71 at 256). On these
    samples the DNN peaks after one or two passes (it then memorises the rare ids), so what matters
    is how many steps the first pass takes: below ~100 validation AUC falls; ~200 (the rule) against
    ~100 was better on 5 of the 6 sets (criteo 18k +0.0023, avazu +0.0007, synthetic +0.0060,
    MovieLens 100k +0.0026, 1m +0.0004; criteo sample -0.0023).

    Measured on the VALIDATION split only (DNN 400-400-200, embedding dimension 10, lr 1e-3, up to 10
    epochs, patience 2; synthetic = `--format synthetic --rows 40000`; best validation AUC, mean over
    the seeds given; LR = one-hot logistic regression with C tuned on the same validation split; the
    rule's choice marked *):

    ================  ======  ===================================================================
    data              rows    validation AUC by batch size
    ================  ======  ===================================================================
    criteo sample     6,400   32*: .7286, 64: .7309, 128: .7177, 256: .7197 (seeds 0-4); 512: .7121,
                              1024: .7079, 4096: .7015 (seeds 0-1); LR .7271
    avazu sample      7,199   32*: .7164, 64: .7157, 128: .7163, 256: .7189 (seeds 0-2); 512: .7193,
                              1024: .7178, 4096: .6211 (seeds 0-1); LR .7246
    criteo 18k        14,798  64*: .7582, 128: .7559 (seeds 0-2); 256: .7499 (seeds 0-1); LR .7597
    synthetic 40k     32,000  128*: .8462, 256: .8402, 512: .7821, 1024: .7803, 4096: .7605
                              (seeds 0-1); LR .7726
    movielens 100k    80,000  256: .7798, 512*: .7791, 1024: .7765, 2048: .7714, 4096: .7677 (seed 0);
                              LR .7687
    movielens 1m      80,000  256: .7605, 512*: .7597, 1024: .7593 (seeds 0-1), 2048: .7588,
                              4096: .7530 (seed 0); LR .7640
    ================  ======  ===================================================================

    (ml1m 256 and 2048, ml100k: seed 0 only.) Below ~100 steps an epoch validation AUC falls (criteo
    128 and up, synthetic 512 and up); past ~200 the gain is small (MovieLens 100k: +0.0007 at 256,
    at twice the steps) and costs time. Also tried on validation and not adopted (criteo sample at
    batch 256, seeds 0-2; criteo 18k at 256 and MovieLens 1m at 1,024, seeds 0-1): embedding L2 1e-4..1e-2 (within
    0.0001), lr 3e-4 (-0.000 / -0.004) or 3e-3 (-0.001), dense weight decay 1e-4 (+0.000), Xavier
    embedding init (-0.001), embedding dimension 4 (-0.003), one hidden layer of 200 (-0.001), dropout
    0.2 (+0.002 on both Criteo samples but -0.001 on MovieLens 1m, and a ModelConfig default).
    """
    rows = max(int(rows), 1)
    nearest = 2 ** round(math.log2(max(rows / STEPS_PER_EPOCH, 1.0)))
    return int(min(LARGE_BATCH, max(SMALL_BATCH, nearest)))


@dataclass(frozen=True)
class TrainConfig:
    """How `lightfmp.train.fit` trains a model.

    Attributes:
        lr: Adam learning rate for every parameter (dense and embedding).
        batch_size: training mini-batch size; None (the default) is `auto_batch_size` of the training
            rows, resolved by `fit` (and by the CLI verbs and `lightfmp.experiment` before they record the
            config): the paper's 4096 on large data, down to 256 on small data. `resolved(rows)` gives it.
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

    lr: float = knob(1e-3, "Adam learning rate.", flag="--lr", min=0.0, min_open=True)
    batch_size: int | None = knob(None, "Training batch. Default: chosen from the training rows, about 200 steps an "
                                  "epoch (the power of two nearest rows/200, within 32..4096): the paper's 4096 from "
                                  "~580k rows up, e.g. 32 for 6,400 rows, 512 for 80,000.", flag="--batch-size",
                                  show="auto", min=1)
    epochs: int = knob(10, "Maximum passes over the training split.", flag="--epochs", min=1)
    patience: int = knob(2, "Early stopping patience on validation AUC.", flag="--patience", min=0)
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
