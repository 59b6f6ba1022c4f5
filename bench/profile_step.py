"""Where a training step's time goes: torch.profiler over steps of `train_epoch` (and of pretraining).

For each backbone (full 39 fields and the compact 19-field model of tau 0.5) it prints the step time,
the number of kernels (CUDA) or operators (CPU) a step launches, and the top operators by self time.
On a GPU a step that launches hundreds of tiny kernels is bound by the host, not by the model:
the compact model then trains no faster than the full one, which is what this script checks.

    python bench/profile_step.py --device cuda --models dnn,xdeepfm
    python bench/profile_step.py --models dnn --steps 20          (CPU)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from _util import criteo_vocab_sizes, planted_labels, zipf_ids  # noqa: E402
from lightfmp.models import ModelConfig, build_model  # noqa: E402
from lightfmp.timing import synchronize  # noqa: E402
from lightfmp.train import TrainConfig, train_epoch  # noqa: E402
from lightfmp.train.batching import DeviceBatches  # noqa: E402
from lightfmp.train.optim import build_optimizer  # noqa: E402


def run(name: str, sizes: list[int], X, y, cfg: TrainConfig, steps: int, top: int, sparse: bool) -> None:
    torch.manual_seed(0)
    cfg = TrainConfig(**{**cfg.to_dict(), "sparse_embeddings": sparse})
    model = build_model(name, sizes, ModelConfig()).to(cfg.device)
    opt = build_optimizer(model, cfg)
    n = steps * cfg.batch_size
    warm = DeviceBatches(X[:n], y[:n], cfg.batch_size, cfg.device, seed=0)
    train_epoch(model, warm, opt, epoch=0, embed_l2=cfg.embed_l2)
    batches = DeviceBatches(X[:n], y[:n], cfg.batch_size, cfg.device, seed=1)
    synchronize(cfg.device)
    t = time.perf_counter()
    train_epoch(model, batches, opt, epoch=1, embed_l2=cfg.embed_l2)
    synchronize(cfg.device)
    step_ms = 1e3 * (time.perf_counter() - t) / steps
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cfg.device.startswith("cuda") else [])
    with profile(activities=acts) as prof:
        train_epoch(model, batches, opt, epoch=2, embed_l2=cfg.embed_l2)
        synchronize(cfg.device)
    events = prof.key_averages()
    cuda = cfg.device.startswith("cuda")
    kernels = sum(e.count for e in events if cuda and getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA)
    gpu_ms = sum(getattr(e, "self_device_time_total", 0.0) for e in events) / 1e3 / steps if cuda else float("nan")
    print(f"\n== {name}, {len(sizes)} fields, batch {cfg.batch_size}, {'sparse RowAdam' if sparse else 'dense Adam'} "
          f"tables: {step_ms:.2f} ms/step wall" + (f", GPU busy {gpu_ms:.2f} ms/step, {kernels / steps:.0f} kernels/step"
                                                    if cuda else ""))
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    print(events.table(sort_by=key, row_limit=top, max_name_column_width=50))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="dnn,xdeepfm")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--dense-too", action="store_true", help="also profile dense Adam on the tables")
    args = ap.parse_args()
    sizes = criteo_vocab_sizes()
    X = zipf_ids(args.steps * args.batch_size, sizes, seed=0)
    y = planted_labels(X)
    cfg = TrainConfig(batch_size=args.batch_size, device=args.device)
    keep = list(range(0, len(sizes), 2))[:19]
    for name in args.models.split(","):
        for cols in (list(range(len(sizes))), keep):
            for sparse in ((True, False) if args.dense_too else (True,)):
                run(name, [sizes[c] for c in cols], X[:, cols].copy(), y, cfg, args.steps, args.top, sparse)


if __name__ == "__main__":
    main()
