"""Training and inference throughput of the five backbones, ours vs DeepCTR-Torch 0.3.0 and FuxiCTR 2.3.10, same run, same rows.

Usage (full, as in issue 4; the lead runs it on an idle machine):
    python bench/train_throughput.py                      # 300,000 rows, all backbones, batch 4096
Smoke run:
    python bench/train_throughput.py --rows 20000 --models dnn,deepfm --xdeepfm-steps 2

Data: synthetic Criteo-shaped ids (39 fields, 1.29M table rows in total, Zipf(1.1) per field), labels
from a planted logistic model. Every number is samples/s at batch 4096 (the `--batch-size`):
- ours train: one epoch of `lightfmp.train.train_epoch` (sparse lazy-Adam tables + fused dense Adam,
  embedding L2 1e-5) after a 2-batch warm-up; ours infer: `predict_logits` at the same batch.
- peer train: DeepCTR-Torch `fit(epochs=1)` on the same rows (its DataLoader path included, as its
  users run it); peer infer: its `predict(batch_size=4096)`. Built by `_util.build_peer`.
- FuxiCTR train: one epoch of its `BaseModel.train_epoch` (what its `fit` runs per epoch, without the
  validation pass) over its `NpzDataLoader` holding the same rows (its default of one loader worker
  process), Adam, embedding L2 1e-5, gradient clipping at norm 10; FuxiCTR infer: its `predict` over
  the same loader. In its own environment and process (`bench/_fuxictr.py`; setup there), the same
  thread count. The ratio column is ours / the faster peer.
- xDeepFM is compute-bound (~58 MFLOP/sample, the peer trains ~540 samples/s here), so both sides
  train it on the first `--xdeepfm-steps` batches only (same rows for both).
- Machine limit: fp32 matmul GFLOP/s (4096^3) -> the DNN's FLOP limit = GFLOP/s / 2.38 MFLOP per
  sample (390-400-400-200-1, forward + backward); printed as "% of limit" for our DNN, beside the bare
  MLP (forward + backward, no embedding, no optimizer) measured in the same run: at the start and again
  right after our DNN is timed, the share taken against the faster of the two (the VM drifts).
- Allocator: our side runs with `lightfmp.train.allocator.reuse_freed_memory` applied, as `fit` applies
  it (`TrainConfig.reuse_freed_memory`), and so does the bare-MLP reference; `--default-allocator`
  leaves glibc's defaults. The peer runs in a fresh spawned process per model, with glibc's defaults,
  as its users run it (the setting is process-wide and cannot be undone).
- Embedding update: our DNN trained with sparse gradients + RowAdam (ours), + torch SparseAdam, and
  with dense (fused) Adam over the whole table; samples/s and the table optimizer's step alone in ms.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from _fuxictr import NAME as FUXICTR, have_fuxictr, run_peer as run_fuxictr_process
from _util import (build_peer, criteo_vocab_sizes, have_peer, matmul_gflops, median_time, mlp_flops_per_sample,
                   peer_inputs, planted_labels, print_table, zipf_ids)
from lightfmp.models import ModelConfig, build_model
from lightfmp.train import TrainConfig, predict_logits, train_epoch
from lightfmp.train.allocator import reuse_freed_memory_for
from lightfmp.train.batching import DeviceBatches
from lightfmp.train.cuda_graph import graph_applies
from lightfmp.train.optim import build_optimizer
from lightfmp.train.trainer import graphed_step

ALL = ("dnn", "widedeep", "deepfm", "xdeepfm", "pnn")


def ours_train(name: str, X: np.ndarray, y: np.ndarray, sizes: list[int], mcfg: ModelConfig, cfg: TrainConfig,
               repeat: int = 1):
    torch.manual_seed(0)
    model = build_model(name, sizes, mcfg).to(cfg.device)
    graphs = graph_applies(cfg)  # as `fit` decides
    opt = build_optimizer(model, cfg, capturable=graphs)
    graphed = graphed_step(model, model, opt, cfg) if graphs else None
    warm = DeviceBatches(X[:4 * cfg.batch_size], y[:4 * cfg.batch_size], cfg.batch_size, cfg.device)
    train_epoch(model, warm, opt, epoch=0, embed_l2=cfg.embed_l2, graphed=graphed)  # warm-up and capture
    batches = DeviceBatches(X, y, cfg.batch_size, cfg.device, seed=1)
    train_s = min(train_epoch(model, batches, opt, epoch=1 + r, embed_l2=cfg.embed_l2, graphed=graphed).seconds
                  for r in range(repeat))
    infer_s = min(predict_logits(model, X, batch_size=cfg.batch_size, device=cfg.device)[1] for _ in range(repeat))
    return len(y) / train_s, len(y) / infer_s, model


def peer_train(name: str, X: np.ndarray, y: np.ndarray, sizes: list[int], mcfg: ModelConfig, cfg: TrainConfig,
               repeat: int = 1):
    model, names = build_peer(name, sizes, mcfg.embed_dim, mcfg.hidden, mcfg.cin_layers, device=cfg.device, lr=cfg.lr)
    bs = cfg.batch_size
    x = peer_inputs(X, names)
    with contextlib.redirect_stdout(io.StringIO()):  # its fit() prints even with verbose=0
        model.fit(peer_inputs(X[:2 * bs], names), y[:2 * bs], batch_size=bs, epochs=1, verbose=0)  # warm-up
        train_s = min(median_time(lambda: model.fit(x, y, batch_size=bs, epochs=1, verbose=0), 1)
                      for _ in range(repeat))
    infer_s = min(median_time(lambda: model.predict(x, batch_size=bs), 1) for _ in range(repeat))
    return len(y) / train_s, len(y) / infer_s


def peer_train_fresh(name: str, X: np.ndarray, y: np.ndarray, sizes: list[int], mcfg: ModelConfig,
                     cfg: TrainConfig, repeat: int = 1, threads: int | None = None):
    """`peer_train` in a new spawned process: glibc's allocator defaults there, whatever this one set."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=torch.set_num_threads,
                             initargs=(threads or torch.get_num_threads(),)) as pool:
        return pool.submit(peer_train, name, X, y, sizes, mcfg, cfg, repeat).result()


def fuxictr_train(name: str, X: np.ndarray, y: np.ndarray, sizes: list[int], mcfg: ModelConfig, cfg: TrainConfig,
                  repeat: int = 1, threads: int | None = None) -> tuple[float, float]:
    """FuxiCTR's training and inference samples/s on these rows, in its own environment."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "rows.npz"
        np.savez(f, X=X, y=y)
        r = run_fuxictr_process("throughput", [
            "--npz", f, "--vocab", ",".join(map(str, sizes)), "--model", name, "--embed-dim", mcfg.embed_dim,
            "--hidden", ",".join(map(str, mcfg.hidden)), "--cin", ",".join(map(str, mcfg.cin_layers)),
            "--batch-size", cfg.batch_size, "--lr", cfg.lr, "--repeat", repeat,
            "--threads", threads or torch.get_num_threads()], threads=threads or torch.get_num_threads())
    return r["train"], r["infer"]


def embedding_update(X, y, sizes, mcfg, cfg, steps: int) -> list[list]:
    """Our DNN with three table updates: RowAdam (ours), torch SparseAdam, dense fused Adam."""
    rows = []
    n = min(len(y), steps * cfg.batch_size)
    for variant in ("rowadam", "sparseadam", "dense"):
        c = TrainConfig(**{**cfg.to_dict(), "sparse_embeddings": variant != "dense"})
        torch.manual_seed(0)
        model = build_model("dnn", sizes, mcfg).to(c.device)
        opt = build_optimizer(model, c)
        if variant == "sparseadam":
            opt.optimizers[-1] = torch.optim.SparseAdam(opt.optimizers[-1].param_groups[0]["params"], lr=c.lr)
        warm = DeviceBatches(X[:2 * c.batch_size], y[:2 * c.batch_size], c.batch_size, c.device)
        train_epoch(model, warm, opt, epoch=0, embed_l2=c.embed_l2)
        ep = train_epoch(model, DeviceBatches(X[:n], y[:n], c.batch_size, c.device, seed=1), opt, epoch=1,
                         embed_l2=c.embed_l2)
        table_opt = opt.optimizers[-1]
        xb = torch.from_numpy(X[:c.batch_size]).to(c.device)
        yb = torch.from_numpy(y[:c.batch_size]).to(c.device)
        times = []
        for _ in range(5):  # the table optimizer's step alone, on a fresh gradient each time
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(xb), yb).backward()
            times.append(median_time(table_opt.step, 1, c.device))
        label = {"rowadam": "sparse grads + RowAdam (ours)", "sparseadam": "sparse grads + torch SparseAdam",
                 "dense": "dense fused Adam, whole table"}[variant]
        rows.append([label, n / ep.seconds, float(np.median(times)) * 1e3])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--models", default=",".join(ALL))
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--xdeepfm-steps", type=int, default=10, help="training batches for xDeepFM (both sides)")
    ap.add_argument("--update-steps", type=int, default=30, help="batches for the embedding-update comparison")
    ap.add_argument("--no-peer", action="store_true", help="run neither peer")
    ap.add_argument("--peers", default="deepctr,fuxictr", help="which peers to run: deepctr, fuxictr")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--default-allocator", action="store_true",
                    help="do not apply reuse_freed_memory on our side (glibc's defaults, as the peer)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="timed passes per model and side; the best is kept (the first pass of a process "
                         "was measured up to 30%% slower on this VM)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = [m for m in args.models.split(",") if m]
    wanted = {p for p in args.peers.split(",") if p}
    peer = have_peer() and not args.no_peer and "deepctr" in wanted
    fux = have_fuxictr() and not args.no_peer and "fuxictr" in wanted
    tuned = reuse_freed_memory_for(TrainConfig(device=args.device, reuse_freed_memory=not args.default_allocator))
    sizes = criteo_vocab_sizes()
    t = time.perf_counter()
    X = zipf_ids(args.rows, sizes, seed=0)
    y = planted_labels(X)
    print(f"data: {args.rows:,} rows x {len(sizes)} fields, {sum(sizes):,} table rows, "
          f"{y.mean():.3f} positive ({time.perf_counter() - t:.1f} s); device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; allocator: "
          f"{'freed memory reused (ours)' if tuned else 'C library defaults'}; peer: "
          f"{'DeepCTR-Torch 0.3.0, in a fresh process' if peer else 'DeepCTR-Torch not run (pip install --no-deps deepctr-torch==0.3.0)'}"
          f", {FUXICTR + ', its own environment' if fux else FUXICTR + ' not run (python bench/_fuxictr.py setup)'}")

    mcfg = ModelConfig()
    cfg = TrainConfig(batch_size=args.batch_size, device=args.device)
    gflops = matmul_gflops(4096, args.device)
    widths = [len(sizes) * mcfg.embed_dim, *mcfg.hidden, 1]
    flops = mlp_flops_per_sample(widths)
    limit = gflops * 1e9 / flops
    mlp = torch.nn.Sequential(*[m for a, b in zip(widths[:-1], widths[1:])
                                for m in (torch.nn.Linear(a, b), torch.nn.ReLU())][:-1]).to(args.device)
    xin = torch.randn(args.batch_size, widths[0], device=args.device, requires_grad=True)  # as the embeddings
    mlp(xin).sum().backward()

    def bare_rate() -> float:
        return args.batch_size / median_time(lambda: mlp(xin).sum().backward(), 5, args.device)

    bare = bare_rate()
    print_table("machine", ["measure", "value"], [
        ["fp32 matmul 4096^3 GFLOP/s", gflops],
        [f"DNN MLP {'-'.join(map(str, widths))} MFLOP/sample fwd+bwd", flops / 1e6],
        ["DNN FLOP limit, samples/s", limit],
        ["bare MLP fwd+bwd, samples/s", bare],
    ])

    rows = []
    for name in models:
        n = min(args.rows, args.xdeepfm_steps * args.batch_size) if name == "xdeepfm" else args.rows
        ours_tr, ours_inf, _ = ours_train(name, X[:n], y[:n], sizes, mcfg, cfg, args.repeat)
        peer_tr = peer_inf = fux_tr = fux_inf = float("nan")
        if peer:
            peer_tr, peer_inf = peer_train_fresh(name, X[:n], y[:n], sizes, mcfg, cfg, args.repeat, args.threads)
        if fux:
            fux_tr, fux_inf = fuxictr_train(name, X[:n], y[:n], sizes, mcfg, cfg, args.repeat, args.threads)
        best_tr = max((v for v in (peer_tr, fux_tr) if np.isfinite(v)), default=float("nan"))
        best_inf = max((v for v in (peer_inf, fux_inf) if np.isfinite(v)), default=float("nan"))
        pct = "-"
        if name == "dnn":
            # The VM's speed drifts (matmul 58 -> 142 GFLOP/s within one run, session 9): the bare MLP
            # is timed again right after our DNN, and the share is taken against the faster of the two.
            bare_after = bare_rate()
            print(f"  bare MLP fwd+bwd: {bare:,.0f}/s at the start, {bare_after:,.0f}/s right after our DNN",
                  flush=True)
            pct = f"{100 * ours_tr / limit:.0f}% ({100 * ours_tr / max(bare, bare_after):.0f}% of bare MLP)"
        any_peer = peer or fux
        rows.append([name, n, ours_tr, peer_tr, fux_tr, f"{ours_tr / best_tr:.2f}x" if any_peer else "-", pct,
                     ours_inf, peer_inf, fux_inf, f"{ours_inf / best_inf:.2f}x" if any_peer else "-"])
        print(f"  {name}: train {ours_tr:,.0f}/s (DeepCTR-Torch {peer_tr:,.0f}/s, FuxiCTR {fux_tr:,.0f}/s)", flush=True)
    print_table(f"throughput, samples/s, batch {args.batch_size} (ratio = ours / the faster peer)",
                ["model", "rows", "ours train", "DeepCTR train", "FuxiCTR train", "ratio", "% of DNN limit",
                 "ours infer", "DeepCTR infer", "FuxiCTR infer", "ratio"], rows)

    upd = embedding_update(X, y, sizes, mcfg, cfg, args.update_steps)
    print_table(f"embedding update, DNN, {min(args.rows, args.update_steps * args.batch_size):,} rows",
                ["update", "train samples/s", "optimizer step ms"], upd)
    print(f"RowAdam / SparseAdam: {upd[0][1] / upd[1][1]:.2f}x, RowAdam / dense Adam: {upd[0][1] / upd[2][1]:.2f}x "
          "training throughput")
    gflops_end = matmul_gflops(4096, args.device)
    print(f"fp32 matmul GFLOP/s at the start {gflops:.0f}, at the end {gflops_end:.0f} "
          f"(the % of limit above uses the start figure; a large gap means the machine was not steady)")


if __name__ == "__main__":
    main()
