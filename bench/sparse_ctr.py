"""Sparse training on a CTR backbone: dense vs DSL vs the comparators at one density (issue 26, items 3-4).

Usage (the issue's measurement: ML-1M sample, DNN, density 0.2, 3 seeds; DSL's per-tensor density, then ERK):
    nice -n 10 python bench/sparse_ctr.py --methods dense,dsl,static --density 0.2 --seeds 0,1,2
    nice -n 10 python bench/sparse_ctr.py --methods dense,dsl,static --density 0.2 --seeds 0,1,2 --allocation erk
Every method:
    nice -n 10 python bench/sparse_ctr.py --methods dense,dsl,set,static,magnitude-init,magnitude
Smoke run:
    python bench/sparse_ctr.py --methods dense,dsl --seeds 0 --epochs 1
One process per seed, then one table:
    python bench/sparse_ctr.py --seeds 0 --out r.jsonl & python bench/sparse_ctr.py --seeds 1 --out r.jsonl & ...
    python bench/sparse_ctr.py --from-jsonl r.jsonl

Protocol, the same for every method: the sample is prepared once by `lightfmp.data.open.open_data` (default
split, seed 2021); the backbone is built as `lightfmp train` builds it (seeded, `ModelConfig()` defaults:
embedding 10, MLP 400-400-200) and trained by `lightfmp.train.fit` with `TrainConfig(seed=...)` defaults
(Adam 1e-3, automatic batch, early stopping on validation AUC, patience 2, best epoch restored); a sparse
method adds `SparseTraining(...).fit_hook()` as ``on_step`` (the table and the hidden Linear weights masked; biases
and the score head dense), every tensor at the density (``--allocation uniform``, DSL's code) or RigL's ERK split
of the same total (``--allocation erk``).
``magnitude`` trains the dense model first (the dense run of the same seed), prunes by magnitude and
fine-tunes with the same `fit`. Test AUC on the test split. The model is saved dense (``torch.save`` of
``{"build_args", "state_dict"}``, as a run folder's model.pt) and compressed (`lightfmp.sparse.save_sparse`);
"file ratio" is the compressed file's bytes over the dense file's, and the scores of the model reloaded from
the compressed file are checked equal (bit for bit) to the trained model's.

Measured (2-core machine shared with other sessions, load 8-15, so the seconds are noise; seeds 0-2, Delta-T
100, Adam moments not masked): dense 0.7528 +- 0.0006; uniform: DSL 0.7474 (-0.0054), static 0.7423 (-0.0105);
ERK: DSL 0.7514 (-0.0014), static 0.7503 (-0.0025); file ratio 0.234-0.236, scores equal. The per-tensor
cost is the table: DSL with only the table at 0.2 lost 0.0053 (seed 0), with only the MLP at 0.2 nothing.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _util import SHARED
from lightfmp.data.open import open_data
from lightfmp.models import ModelConfig, build_model, from_build_args
from lightfmp.sparse import SparseTraining, UpdateSchedule, default_targets, get_variant, load_sparse, save_sparse
from lightfmp.train import TrainConfig, evaluate, fit, predict_logits, seed_everything

DATASETS = {
    "movielens_1m": ("movielens", SHARED / "data" / "movielens_1m"),
    "movielens_100k": ("movielens", SHARED / "data" / "movielens_100k"),
    "criteo_sample": ("criteo", SHARED / "data" / "criteo_kaggle_sample" / "wide_resdnn"),
}


def file_sizes(model: torch.nn.Module, X_test: np.ndarray, workdir: Path) -> tuple[int, int, bool]:
    """(dense file bytes, compressed file bytes, whether the reloaded compressed model's scores are equal)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    dense, sparse = workdir / "dense.pt", workdir / "sparse.pt"
    torch.save({"build_args": model.build_args(), "state_dict": state}, dense)
    save_sparse(sparse, state, build_args=model.build_args())
    blob = load_sparse(sparse)
    back = from_build_args(blob["build_args"])
    back.load_state_dict(blob["state_dict"])
    same = bool(np.array_equal(predict_logits(model, X_test)[0], predict_logits(back, X_test)[0]))
    return dense.stat().st_size, sparse.stat().st_size, same


def run_one(method: str, data, seed: int, args, dense_model=None) -> tuple[dict, torch.nn.Module]:
    train, valid, (Xs, ys) = data.split("train"), data.split("valid"), data.split("test")
    cfg = TrainConfig(seed=seed, epochs=args.epochs, threads=args.threads)
    variant = None if method == "dense" else get_variant(method)
    if variant is not None and variant.dense_first:
        model = copy.deepcopy(dense_model)
    else:
        seed_everything(seed)
        model = build_model(args.model, data.schema.vocab_sizes, ModelConfig())
    st = None
    if variant is not None:
        names = [n for n in default_targets(model) if args.targets == "all"
                 or (n.startswith("embedding.") if args.targets == "tables" else not n.startswith("embedding."))]
        st = SparseTraining(model, args.density, names=names, variant=variant,
                            schedule=UpdateSchedule(args.interval), mask_moments=args.mask_moments,
                            allocation=args.allocation, seed=seed)
    t = time.perf_counter()
    fr = fit(model, train, valid, cfg, progress=False, on_step=None if st is None else st.fit_hook())
    seconds = time.perf_counter() - t
    res = evaluate(model, Xs, ys)
    with tempfile.TemporaryDirectory() as tmp:
        dense_bytes, sparse_bytes, same = file_sizes(model, Xs, Path(tmp))
    row = {"method": method, "seed": seed, "auc": res.auc, "logloss": res.logloss, "val_auc": fr.best_val_auc,
           "best_epoch": fr.best_epoch, "epochs": fr.epochs_run, "seconds": seconds,
           "file_ratio": sparse_bytes / dense_bytes, "dense_bytes": dense_bytes, "sparse_bytes": sparse_bytes,
           "scores_equal": same}
    params = [p for p in model.parameters()]
    row["all_nonzero"] = sum(int((p != 0).sum()) for p in params) / sum(p.numel() for p in params)
    if st is not None:
        s = st.stats()
        row.update(density=s["nonzero_density"], fired_ratio=s["fired_ratio"], updates=s["updates"])
    else:
        row.update(density=1.0, fired_ratio=1.0, updates=0)
    return row, model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="movielens_1m", choices=sorted(DATASETS))
    ap.add_argument("--model", default="dnn")
    ap.add_argument("--methods", default="dense,dsl,static")
    ap.add_argument("--density", type=float, default=0.2)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--interval", type=int, default=100, help="Delta-T, optimizer steps between mask updates")
    ap.add_argument("--mask-moments", action="store_true", help="also zero Adam's moments at inactive entries")
    ap.add_argument("--targets", default="all", choices=("all", "tables", "mlp"),
                    help="which default targets are masked: all, the embedding table only, or the MLP only")
    ap.add_argument("--allocation", default="uniform", choices=("uniform", "erk"),
                    help="per-tensor densities: all at --density (DSL) or RigL's ERK split of the same total")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", help="append one JSON line per run to this file")
    ap.add_argument("--from-jsonl", nargs="+", help="print the table of earlier --out files, train nothing")
    args = ap.parse_args()
    if args.from_jsonl:
        rows = [json.loads(line) for f in args.from_jsonl for line in Path(f).read_text().splitlines() if line]
        for r in rows:  # one line per method and allocation
            if r["method"] != "dense" and r.get("allocation", "uniform") != "uniform":
                r["method"] = f"{r['method']}/{r['allocation']}"
        first = rows[0]
        print_summary(rows, list(dict.fromkeys(r["method"] for r in rows)),
                      f"{first['dataset']}, {first['model']}, density {first['density_target']}, "
                      f"Delta-T {first['interval']}, mask moments {first['mask_moments']}")
        return
    fmt, path = DATASETS[args.dataset]
    data = open_data(fmt=fmt, input=path, progress=False)
    methods = [m for m in args.methods.split(",") if m]
    if any(m != "dense" and get_variant(m).dense_first for m in methods) and "dense" not in methods:
        methods.insert(0, "dense")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        dense_model = None
        for method in methods:
            row, model = run_one(method, data, seed, args, dense_model)
            if method == "dense":
                dense_model = model
            rows.append(row)
            print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps({**row, "dataset": args.dataset, "model": args.model,
                                        "density_target": args.density, "interval": args.interval,
                                        "mask_moments": args.mask_moments, "targets": args.targets,
                                        "allocation": args.allocation}) + "\n")
    print_summary(rows, methods, f"{args.dataset}, {args.model}, density {args.density}, Delta-T {args.interval}, "
                  f"mask moments {args.mask_moments}, allocation {args.allocation}")


def print_summary(rows: list[dict], methods: list[str], title: str) -> None:
    """Mean test AUC (+- spread over seeds), the mean paired gap to dense, density, file ratio, per method."""
    dense = {r["seed"]: r["auc"] for r in rows if r["method"] == "dense"}
    print(f"\n{title}")
    print(f"{'method':16s} {'test AUC':>17s} {'- dense':>8s} {'density':>8s} {'file ratio':>10s} {'equal':>6s} "
          f"{'epoch':>6s} {'seconds':>8s}  seeds")
    for method in methods:
        rs = [r for r in rows if r["method"] == method]
        if not rs:
            continue
        aucs = [r["auc"] for r in rs]
        sd = statistics.stdev(aucs) if len(aucs) > 1 else 0.0
        gap = [r["auc"] - dense[r["seed"]] for r in rs if r["seed"] in dense]
        mean_gap = statistics.mean(gap) if gap else float("nan")
        print(f"{method:16s} {statistics.mean(aucs):.4f} +- {sd:.4f}  "
              f"{mean_gap:+.4f} {statistics.mean(r['density'] for r in rs):8.4f} "
              f"{statistics.mean(r['file_ratio'] for r in rs):10.4f} {str(all(r['scores_equal'] for r in rs)):>6s} "
              f"{statistics.mean(r['best_epoch'] for r in rs):6.1f} {statistics.mean(r['seconds'] for r in rs):8.1f}  "
              f"{','.join(str(r['seed']) for r in rs)}")

if __name__ == "__main__":
    main()
