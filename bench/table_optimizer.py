"""DNN training-step time with the tables on dense Adam against RowAdam, by table size (one thread).

This is what `TrainConfig.dense_table_max_params` is chosen from: up to which table size a dense
Adam step over the whole table costs no more than RowAdam's row-wise one.

`--coalesce` instead times the two ways RowAdam sums duplicate rows (`lightfmp.train.row_adam`:
mask over the table, sort of the ids) on a 39-field table of `--rows` rows, Zipf ids, per batch size,
on one and two threads; `sum_duplicate_rows` picks between them by the same kind of timing.

Usage:
    python bench/table_optimizer.py --batch-size 256
    python bench/table_optimizer.py --batch-size 4096 --rows 10000,100000,300000
    python bench/table_optimizer.py --coalesce --rows 1290000 --batches 128,2048,4096
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import _util  # noqa: F401  (puts the repository on sys.path)
from lightfmp.models import ModelConfig, build_model
from lightfmp.train import TrainConfig
from lightfmp.train.loop import step_loss
from lightfmp.train.optim import build_optimizer, l2_tables
from lightfmp.train.row_adam import _WAYS

FIELDS = 39


def step_ms(table_rows: int, batch: int, sparse: bool, steps: int, warmup: int) -> float:
    """Median ms of one forward + backward + optimizer step, DNN over 39 fields of equal vocabulary."""
    torch.manual_seed(0)
    vocab = [max(2, table_rows // FIELDS)] * FIELDS
    model = build_model("dnn", vocab, ModelConfig(embed_dim=10))
    opt = build_optimizer(model, TrainConfig(sparse_embeddings=sparse))
    rng = np.random.default_rng(0)
    X = torch.as_tensor(np.minimum(rng.zipf(1.1, size=(steps, batch, FIELDS)) - 1, vocab[0] - 1))
    y = torch.as_tensor(rng.integers(0, 2, size=(steps, batch)), dtype=torch.float32)
    tables = l2_tables(model)
    times = []
    for i in range(steps):
        t = time.perf_counter()
        loss = step_loss(model, X[i], y[i], tables, 1e-5, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return float(np.median(times[warmup:])) * 1e3


def coalesce_ms(table_rows: int, batch: int, threads: int, repeats: int = 20) -> dict[str, float]:
    """Median ms of each duplicate-row sum way on batch x 39 Zipf ids over a `table_rows`-row table."""
    torch.set_num_threads(threads)
    vocab = max(2, table_rows // FIELDS)
    rng = np.random.default_rng(0)
    local = np.minimum(rng.zipf(1.1, size=(batch, FIELDS)) - 1, vocab - 1)
    idx = torch.as_tensor((local + np.arange(FIELDS) * vocab).reshape(-1))
    vals = torch.randn(idx.numel(), 10)
    touched = torch.zeros(vocab * FIELDS, dtype=torch.bool)
    pos = torch.empty(vocab * FIELDS, dtype=torch.long)
    out = {}
    for name, fn in _WAYS.items():
        times = []
        for _ in range(repeats + 3):
            t = time.perf_counter()
            fn(idx, vals, touched, pos)
            times.append(time.perf_counter() - t)
        out[name] = float(np.median(times[3:])) * 1e3
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--rows", default="1000,10000,100000,300000,1000000", help="table rows (all fields together)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--coalesce", action="store_true", help="time RowAdam's two duplicate-row sums instead")
    ap.add_argument("--batches", default="128,2048,4096", help="batch sizes for --coalesce")
    args = ap.parse_args()
    if args.coalesce:
        print(f"{'table rows':>12}  {'ids':>8}  {'threads':>7}  {'mask ms':>8}  {'sort ms':>8}")
        for rows in (int(r) for r in args.rows.split(",")):
            for batch in (int(b) for b in args.batches.split(",")):
                for threads in (1, 2):
                    ms = coalesce_ms(rows, batch, threads)
                    print(f"{rows:>12,}  {batch * FIELDS:>8,}  {threads:>7}  {ms['mask']:>8.2f}  {ms['sort']:>8.2f}",
                          flush=True)
        return
    torch.set_num_threads(1)
    print(f"DNN, embedding dim 10, {FIELDS} fields, batch {args.batch_size}, one thread, median of "
          f"{args.steps - args.warmup} steps")
    print(f"{'table rows':>12}  {'params':>11}  {'dense ms':>9}  {'RowAdam ms':>10}  {'dense / RowAdam':>15}")
    for rows in (int(r) for r in args.rows.split(",")):
        dense = step_ms(rows, args.batch_size, False, args.steps, args.warmup)
        row = step_ms(rows, args.batch_size, True, args.steps, args.warmup)
        print(f"{rows:>12,}  {rows * 10:>11,}  {dense:>9.2f}  {row:>10.2f}  {dense / row:>15.2f}", flush=True)


if __name__ == "__main__":
    main()
