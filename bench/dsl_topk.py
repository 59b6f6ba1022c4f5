"""DSL on its own top-K recommenders: Recall@20 / NDCG@20 against density, per sparse-training method (issue 26).

Usage (ML-100K, LightGCN and MultVAE, densities 1 (dense), 0.5, 0.2, 0.1, methods DSL, SET and static, 3 seeds):
    nice -n 10 python bench/dsl_topk.py --dataset movielens_100k --models lightgcn,multvae --seeds 0,1,2
Smoke run:
    python bench/dsl_topk.py --models bpr-mf --densities 0.2 --methods dsl --seeds 0 --epochs 1

Every run is `lightfmp.experiment.run` on the top-K data (the `lightfmp topk` verb's path): the same epochs,
learning rate, batch and seed for every method, model selection on validation Recall@20, test metrics of the
restored best epoch; a sparse run's density is the share of nonzero weights in its masked tensors (ERK split
unless ``--allocation uniform``). Dense kernels gain nothing from zeros, so the time column is the same work
at every density; ``theoretical`` parameters are the nonzero ones. Prints a table (mean +- std over seeds),
writes JSON and a PNG (Recall@20 against density, one curve per method and model).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lightfmp.experiment import run  # noqa: E402
from lightfmp.sparse import SparseConfig  # noqa: E402
from lightfmp.topk.open import open_topk  # noqa: E402
from lightfmp.train import TrainConfig  # noqa: E402

SHARED = ROOT / ".." / "shared" / "data"


def one(dataset: str, model: str, method: str, density: float, seed: int, args: argparse.Namespace) -> dict:
    data = open_topk(dataset, SHARED / dataset, model)
    tcfg = TrainConfig(epochs=args.epochs, lr=args.lr, patience=args.patience, seed=seed,
                       batch_size=args.batch_size)
    sparse = None if method == "dense" else SparseConfig(method=method, density=density, interval=args.interval,
                                                         allocation=args.allocation)
    t0 = time.perf_counter()
    res = run("none", data, model_name=model, train_cfg=tcfg, sparse=sparse)
    rep = res.report()
    return {"dataset": dataset, "model": model, "method": method, "density": 1.0 if sparse is None else density,
            "seed": seed, **res.metrics, "val": rep[f"val_{rep['select_on']}"], "best_epoch": rep["best_epoch"],
            "params": rep["params_after"], "params_before": rep["params_before"], "seconds": time.perf_counter() - t0,
            "nonzero_density": rep.get("sparse", {}).get("nonzero_density", 1.0),
            "fired_ratio": rep.get("sparse", {}).get("fired_ratio", 1.0)}


def table(rows: list[dict]) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["density"], r["method"]), []).append(r)
    lines = ["| model | density | method | seeds | Recall@20 | NDCG@20 | vs dense | ever active | params | s/run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (model, density, method), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1], kv[0][2])):
        rec = [r["recall@20"] for r in rs]
        dense = [r["recall@20"] for r in rows if r["model"] == model and r["method"] == "dense"]
        rel = statistics.mean(rec) / statistics.mean(dense) if dense else float("nan")
        sd = statistics.stdev(rec) if len(rec) > 1 else 0.0
        lines.append(f"| {model} | {density:g} | {method} | {len(rs)} | {statistics.mean(rec):.4f} +- {sd:.4f} | "
                     f"{statistics.mean(r['ndcg@20'] for r in rs):.4f} | {rel:.3f} | "
                     f"{statistics.mean(r['fired_ratio'] for r in rs):.3f} | {int(statistics.mean(r['params'] for r in rs)):,} | "
                     f"{statistics.mean(r['seconds'] for r in rs):.1f} |")
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        dense = [r["recall@20"] for r in rows if r["model"] == model and r["method"] == "dense"]
        for method in sorted({r["method"] for r in rows} - {"dense"}):
            pts = sorted({r["density"] for r in rows if r["model"] == model and r["method"] == method})
            means = [statistics.mean(r["recall@20"] for r in rows if r["model"] == model and r["method"] == method
                                     and r["density"] == d) for d in pts]
            ax.plot(pts, means, marker="o", label=method)
        if dense:
            ax.axhline(statistics.mean(dense), color="k", linestyle="--", label="dense")
        ax.set_xscale("log")
        ax.set_xlabel("density (share of weights active)")
        ax.set_ylabel("test Recall@20")
        ax.set_title(model)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="movielens_100k", choices=("movielens_100k", "gowalla"))
    ap.add_argument("--models", default="lightgcn,multvae")
    ap.add_argument("--methods", default="dsl,set,static")
    ap.add_argument("--densities", default="0.5,0.2,0.1")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=None, help="default: each model's paper value")
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--interval", type=int, default=100, help="Delta-T (DSL: 100 MultVAE, 3000 LightGCN)")
    ap.add_argument("--allocation", default="erk", choices=("erk", "uniform"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "out" / "dsl_topk"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in args.models.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            rows.append(one(args.dataset, model, "dense", 1.0, seed, args))
            for density in [float(d) for d in args.densities.split(",")]:
                for method in args.methods.split(","):
                    rows.append(one(args.dataset, model, method, density, seed, args))
                    print(json.dumps(rows[-1]), flush=True)
    (out / "runs.json").write_text(json.dumps(rows, indent=1))
    text = table(rows)
    (out / "table.md").write_text(text + "\n")
    figure(rows, out / "recall_vs_density.png")
    print(text)
    print(f"wrote {out}/table.md, runs.json, recall_vs_density.png")


if __name__ == "__main__":
    main()
