"""DNN training-step time with the tables on dense Adam against RowAdam, by table size (one thread).

This is what `TrainConfig.dense_table_max_params` is chosen from: up to which table size a dense
Adam step over the whole table costs no more than RowAdam's row-wise one.

Usage:
    python bench/table_optimizer.py --batch-size 256
    python bench/table_optimizer.py --batch-size 4096 --rows 10000,100000,300000
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--rows", default="1000,10000,100000,300000,1000000", help="table rows (all fields together)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
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
