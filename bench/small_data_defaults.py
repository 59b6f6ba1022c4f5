"""Do the library's defaults hold up on small data? The default DNN against tuned one-hot logistic regression.

Usage (full, issue 23 item 6):
    python bench/small_data_defaults.py                    # every sample below, seeds 0,1,2
Smoke run:
    python bench/small_data_defaults.py --samples criteo_kaggle_sample --seeds 0 --epochs 2

For every real sample in ../shared/data that `lightfmp prepare` reads (prepared once and cached by
`lightfmp.data.open.open_data`, default split, seed 2021):
- the DNN is trained exactly as `lightfmp train --format F --input PATH --seed S` trains it: the
  options are parsed by the `train` command itself (its defaults, no batch size or other knob chosen
  here), and the TrainConfig and ModelConfig come from `lightfmp.cli.common`, which resolves the
  automatic batch size from the training rows (`lightfmp.train.config.auto_batch_size`);
- one-hot logistic regression (scikit-learn, lbfgs, L2) on the same split, over the same ids one-hot
  encoded (`lightfmp.selection.onehot.one_hot`), C chosen on the VALIDATION split only from `C_GRID`;
- PASS when the DNN's mean test AUC over the seeds is at least LR's test AUC minus `--tolerance`
  (0.005); the exit status is 1 if any sample fails.

criteo_kaggle_18k is a gzip file; if `prepare` cannot read it directly, it is decompressed once into the
lightfmp cache folder (never into the repository) and prepared from there.
Noise: the Criteo and Avazu samples have ~800 test rows, so one test AUC has a standard error near
0.03 (../shared/docs/performance.md); the seed spread is printed beside each mean.
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import time

import numpy as np

from _util import SHARED, print_table

DATA = SHARED / "data"
# name -> (format, input) as `lightfmp prepare --format F --input PATH` takes them
SAMPLES = {
    "criteo_kaggle_sample": ("criteo", DATA / "criteo_kaggle_sample" / "wide_resdnn"),
    "criteo_kaggle_18k": ("criteo", DATA / "criteo_kaggle_18k" / "criteo_pooled.tsv.gz"),
    "avazu_sample": ("avazu", DATA / "avazu_sample" / "wide_resdnn"),
    "movielens_100k": ("movielens", DATA / "movielens_100k"),
    "movielens_1m": ("movielens", DATA / "movielens_1m"),
}
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def open_sample(name: str):
    """The prepared sample (cached); a .gz input prepare cannot read is decompressed into the cache first."""
    from lightfmp.data.open import cache_root_dir, open_data
    from lightfmp.errors import InputError

    fmt, path = SAMPLES[name]
    try:
        return open_data(fmt=fmt, input=path, progress=False)
    except InputError:
        if path.suffix != ".gz":
            raise
    raw = cache_root_dir() / "raw" / name / path.stem
    if not raw.exists() or raw.stat().st_mtime < path.stat().st_mtime:
        raw.parent.mkdir(parents=True, exist_ok=True)
        tmp = raw.with_suffix(".part")
        with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.replace(raw)
    return open_data(fmt=fmt, input=raw, progress=False)


def cli_args(seed: int, epochs: int | None):
    """The shared training options exactly as `lightfmp train` parses them (its defaults)."""
    from lightfmp.cli import common
    from lightfmp.cli.train import command

    argv = ["--seed", str(seed), "--quiet"] + (["--epochs", str(epochs)] if epochs is not None else [])
    with command.make_context("train", argv) as ctx:
        params = dict(ctx.params)
    return common.CommonArgs.from_kwargs(params)


def train_default_dnn(data, seed: int, epochs: int | None) -> dict:
    """`lightfmp train`'s training on ``data``: returns test AUC, validation AUC and the batch size used."""
    from lightfmp.models import build_model
    from lightfmp.train import evaluate, fit, seed_everything

    args = cli_args(seed, epochs)
    mcfg = args.model_cfg
    train, valid = data.split("train"), data.split("valid")
    tcfg = args.train_cfg.resolved(len(train[1]))  # what `train` resolves
    seed_everything(args.seed)
    model = build_model(args.model, data.schema.vocab_sizes, mcfg)
    res = fit(model, train, valid, tcfg, progress=False, phase="training")
    test = evaluate(model, *data.split("test"), batch_size=tcfg.eval_batch_size, device=tcfg.device)
    return {"auc": test.auc, "val_auc": res.best_val_auc, "batch_size": res.batch_size,
            "best_epoch": res.best_epoch, "seconds": res.total_seconds}


def tuned_logistic_regression(data) -> dict:
    """One-hot L2 logistic regression, C chosen by validation AUC (test never looked at for the choice)."""
    from sklearn.linear_model import LogisticRegression

    from lightfmp.metrics import auc
    from lightfmp.selection.onehot import one_hot

    vocab = list(data.schema.vocab_sizes)
    (Xt, yt), (Xv, yv), (Xs, ys) = (data.split(s) for s in ("train", "valid", "test"))
    A, V, T = (one_hot(np.asarray(X), vocab) for X in (Xt, Xv, Xs))
    best = None
    for C in C_GRID:
        lr = LogisticRegression(C=C, max_iter=2000).fit(A, np.asarray(yt))
        val = auc(np.asarray(yv), lr.decision_function(V))
        if best is None or val > best[0]:
            best = (val, C, lr)
    val, C, lr = best
    return {"auc": auc(np.asarray(ys), lr.decision_function(T)), "val_auc": val, "C": C}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", default=",".join(SAMPLES), help="comma-separated: " + ", ".join(SAMPLES))
    ap.add_argument("--seeds", default="0,1,2", help="training seeds of the DNN (comma-separated)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="smoke runs only: `lightfmp train --epochs` (default: its default)")
    ap.add_argument("--tolerance", type=float, default=0.005, help="PASS: DNN >= LR - tolerance (test AUC)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    names = [s.strip() for s in a.samples.split(",") if s.strip()]
    unknown = [n for n in names if n not in SAMPLES]
    if unknown:
        ap.error(f"unknown sample {unknown[0]!r}; choose from {', '.join(SAMPLES)}")
    seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    rows, failed = [], []
    t0 = time.perf_counter()
    for name in names:
        data = open_sample(name)
        runs = [train_default_dnn(data, s, a.epochs) for s in seeds]
        lr = tuned_logistic_regression(data)
        aucs = [r["auc"] for r in runs]
        mean = float(np.mean(aucs))
        std = float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0
        gap = mean - lr["auc"]
        ok = gap >= -a.tolerance
        batches = sorted({r["batch_size"] for r in runs})
        rows.append([name, f"{len(data.split('train')[1]):,}", ",".join(f"{b:,}" for b in batches),
                     f"{mean:.4f} +- {std:.4f}", f"{np.mean([r['val_auc'] for r in runs]):.4f}",
                     f"{lr['auc']:.4f}", f"{lr['val_auc']:.4f}", f"{lr['C']:g}", f"{gap:+.4f}",
                     "PASS" if ok else "FAIL"])
        if not ok:
            failed.append(name)
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s (best epochs {[r['best_epoch'] for r in runs]})",
              file=sys.stderr, flush=True)
    print_table(f"default `lightfmp train` DNN vs one-hot LR (C tuned on validation), seeds {a.seeds}, "
                f"PASS: DNN test AUC >= LR - {a.tolerance:g}",
                ["sample", "train rows", "batch", "DNN test AUC", "DNN val", "LR test AUC", "LR val", "LR C",
                 "gap", "result"], rows)
    if failed:
        print(f"FAIL: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
