"""Top-K from implicit feedback (DSL's setting): our dense LightGCN / BPR-MF / MultVAE / NeuMF beside
RecBole 1.2.1's LightGCN, BPR and MultiVAE on the same split, in one run, JSON out.

    nice -n 10 python bench/topk.py --datasets movielens_100k --epochs 20 --seeds 0 \
        --recbole-python /path/to/recbole_env/bin/python --out results/topk_ml100k.json

What runs, per data set and seed:
- the main split (`load_movielens_100k`: per-user 80/10/10; `load_gowalla`: LightGCN's split + 10% of each
  user's train items as validation): ours ``lightgcn``, ``bpr-mf``, ``multvae`` and RecBole's LightGCN, BPR,
  MultiVAE, given exactly our train/valid/test pairs as benchmark files (``benchmark_filename``), the same
  hyperparameters (64 dimensions, 3 layers, L2 1e-4 on the batch's ego embeddings with LightGCN's
  squared form, ``require_pow``; Adam, learning rate, batch size, epoch budget), validation every epoch,
  the best validation Recall@20 epoch scored on test (full ranking, train items excluded; test also
  excludes validation items, as RecBole does). RecBole's BPR has no L2 term (its model has none).
- ``--protocols``: ``strong`` (MultVAE, strong generalisation 80/20 fold-in) and ``loo`` (NeuMF, leave-one-out
  with 100 fixed evaluation negatives): ours only; RecBole has neither protocol as such.

Differences that remain (said, not hidden): RecBole initialises LightGCN/BPR embeddings Xavier-uniform
(ours N(0, 0.1^2), LightGCN's code); RecBole's MultiVAE steps over interactions, not users (a user's row is
seen once per interaction in an epoch), so its epochs are not ours. Torch runs with ``--threads`` threads
in both (1 by default: on a shared 2-core machine OpenMP spin-waiting makes 2 threads 5-20x slower).

The RecBole peer runs in a subprocess with ``--recbole-python`` (a separate environment; never a project
dependency), this same file in ``--recbole-peer SPEC`` mode, which imports only RecBole. Without the flag,
or when that interpreter is absent, the peer is skipped with one line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT / ".." / "shared" / "data"
RECBOLE_MODELS = {"lightgcn": "LightGCN", "bpr-mf": "BPR", "multvae": "MultiVAE"}


# ------------------------------------------------------------------ RecBole peer (runs in its own environment)

def run_recbole_peer(spec_path: str) -> None:
    """Train and test one RecBole model on benchmark files; print one JSON line. Imports only RecBole."""
    spec = json.loads(Path(spec_path).read_text())
    import torch

    torch.set_num_threads(spec["threads"])
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import get_model, init_seed

    model_name = spec["model"]
    cfg: dict[str, Any] = {
        "data_path": spec["data_path"], "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "load_col": {"inter": ["user_id", "item_id"]},
        "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
        "metrics": ["Recall", "NDCG"], "topk": [20], "valid_metric": "Recall@20",
        "epochs": spec["epochs"], "eval_step": 1, "stopping_step": spec["patience"],
        "learning_rate": spec["lr"], "train_batch_size": spec["batch_size"],
        "eval_batch_size": 1024 * spec["num_items"], "seed": spec["seed"], "reproducibility": True,
        "use_gpu": False, "device": "cpu", "show_progress": False, "checkpoint_dir": spec["workdir"],
        "state": "WARNING", "log_wandb": False, "weight_decay": 0.0,
    }
    if model_name == "MultiVAE":
        cfg.update({"mlp_hidden_size": [600], "latent_dimension": 200, "dropout_prob": 0.5, "anneal_cap": 0.2,
                    "total_anneal_steps": 200000, "train_neg_sample_args": None})
    else:
        cfg.update({"embedding_size": 64, "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1}})
    if model_name == "LightGCN":
        cfg.update({"n_layers": spec["layers"], "reg_weight": spec["reg"], "require_pow": True})
    config = Config(model=model_name, dataset=spec["dataset"], config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(model_name)(config, train_data._dataset).to(config["device"])

    epoch_seconds: list[float] = []
    valid_scores: list[float] = []

    class TimedTrainer(Trainer):
        def _train_epoch(self, *a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            out = super()._train_epoch(*a, **k)
            epoch_seconds.append(time.perf_counter() - t)
            return out

        def _valid_epoch(self, *a: Any, **k: Any) -> Any:
            score, result = super()._valid_epoch(*a, **k)
            valid_scores.append(float(score))
            return score, result

    trainer = TimedTrainer(config, model)
    t0 = time.perf_counter()
    _, best_valid = trainer.fit(train_data, valid_data, saved=True, show_progress=False, verbose=False)
    wall = time.perf_counter() - t0
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    print(json.dumps({"best_valid": {k: float(v) for k, v in best_valid.items()},
                      # RecBole keeps the last epoch whose score is >= the best so far (`early_stopping`)
                      "best_epoch": len(valid_scores) - valid_scores[::-1].index(max(valid_scores)),
                      "valid_curve": valid_scores,
                      "test": {k: float(v) for k, v in test.items()}, "epochs_run": len(epoch_seconds),
                      "train_seconds": sum(epoch_seconds), "epoch_seconds": epoch_seconds, "fit_wall_seconds": wall,
                      "users": int(dataset.user_num - 1), "items": int(dataset.item_num - 1),
                      "train_interactions": int(len(train_data._dataset))}))


# ------------------------------------------------------------------ our side

def write_benchmark_files(data: Any, folder: Path, dataset: str) -> None:
    """Our train/valid/test pairs as RecBole atomic files ``<dataset>.{train,valid,test}.inter`` (token ids)."""
    import numpy as np

    (folder / dataset).mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        u, i = data.split(split).pairs(np.arange(data.num_users))
        body = "\n".join(f"{a}\t{b}" for a, b in zip(u.tolist(), i.tolist()))
        (folder / dataset / f"{dataset}.{split}.inter").write_text("user_id:token\titem_id:token\n" + body + "\n")


def run_peer(python: str, model: str, data: Any, workdir: Path, args: argparse.Namespace, seed: int,
             epochs: int, batch_size: int) -> dict[str, Any]:
    spec = {"model": RECBOLE_MODELS[model], "data_path": str(workdir), "dataset": "topk", "epochs": epochs,
            "patience": epochs, "lr": args.lr if model != "multvae" else args.vae_lr, "batch_size": batch_size,
            "layers": 3, "reg": args.reg, "seed": seed, "threads": args.threads, "num_items": data.num_items,
            "workdir": str(workdir / f"ckpt_{model}_{seed}")}
    spec_path = workdir / f"spec_{model}_{seed}.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", OMP_NUM_THREADS=str(args.threads))
    t = time.perf_counter()
    proc = subprocess.run([python, str(Path(__file__).resolve()), "--recbole-peer", str(spec_path)], cwd=workdir,
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}",
                "stderr_tail": proc.stderr[-2000:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - t
    return out


def run_ours(model_name: str, data: Any, seed: int, epochs: int, args: argparse.Namespace,
             batch_size: int, eval_every: int = 1) -> dict[str, Any]:
    from lightfmp.topk import build_topk_model, evaluate_topk, fit_topk, paper_fit_config

    overrides: dict[str, Any] = {"reg": args.reg} if model_name in ("lightgcn", "bpr-mf") else {}
    model = build_topk_model(model_name, data, seed=seed, **overrides)  # seeded init; fit_topk seeds the rest
    lr = args.vae_lr if model_name == "multvae" else args.neumf_lr if model_name == "neumf" else args.lr
    cfg = paper_fit_config(model_name, epochs=epochs, lr=lr, batch_size=batch_size, eval_every=eval_every,
                           patience=epochs, seed=seed)
    t = time.perf_counter()
    fit = fit_topk(model, data, cfg, log_epochs=args.verbose)
    wall = time.perf_counter() - t
    test = evaluate_topk(model, data, "test")
    return {"best_valid": fit.best_valid, "best_epoch": fit.best_epoch, "test": test, "epochs_run": fit.epochs_run,
            "train_seconds": fit.train_seconds, "epoch_seconds": [h["seconds"] for h in fit.history],
            "fit_wall_seconds": wall, "config": {"lr": lr, "batch_size": batch_size, "epochs": epochs},
            "valid_curve": [h.get(f"valid_{fit.select_on}") for h in fit.history]}


def load(name: str) -> Any:
    from lightfmp.topk import load_gowalla, load_movielens_100k

    return {"movielens_100k": load_movielens_100k, "gowalla": load_gowalla}[name](SHARED_DATA / name)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="movielens_100k", help="comma list: movielens_100k, gowalla")
    p.add_argument("--models", default="lightgcn,bpr-mf,multvae", help="main-split models, ours and RecBole's")
    p.add_argument("--protocols", default="", help="comma list: strong (MultVAE), loo (NeuMF); ours only")
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=20, help="epoch budget of the pairwise models (both sides)")
    p.add_argument("--vae-epochs", type=int, default=100, help="our MultVAE's epochs (RecBole's: --recbole-vae-epochs)")
    p.add_argument("--recbole-vae-epochs", type=int, default=5)
    p.add_argument("--neumf-epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=2048, help="LightGCN / BPR-MF pairs a step (both sides)")
    p.add_argument("--vae-batch-size", type=int, default=100, help="our MultVAE's users a step")
    p.add_argument("--recbole-vae-batch-size", type=int, default=2048, help="RecBole MultiVAE's interactions a step")
    p.add_argument("--neumf-batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--neumf-lr", type=float, default=1e-3)
    p.add_argument("--reg", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--recbole-python", default=None, help="python of the RecBole 1.2.1 environment")
    p.add_argument("--recbole-models", default=None, help="comma list of the peer's models (default: --models)")
    p.add_argument("--skip-ours", action="store_true", help="run only the peer")
    p.add_argument("--verbose", action="store_true", help="one line per epoch on stderr")
    p.add_argument("--out", default=None, help="JSON file (stdout when absent)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from lightfmp.topk import leave_one_out, strong_generalisation
    from lightfmp.topk.data import all_interactions, read_movielens_100k

    peer = args.recbole_python
    if peer and not Path(peer).exists():
        print(f"RecBole peer skipped: {peer} not found", file=sys.stderr)
        peer = None
    elif not peer:
        print("RecBole peer skipped: no --recbole-python given", file=sys.stderr)
    models = [m for m in args.models.split(",") if m]
    peer_models = [m for m in (args.recbole_models or args.models).split(",") if m in RECBOLE_MODELS]
    results: dict[str, Any] = {"command": " ".join(sys.argv), "torch": torch.__version__, "threads": args.threads,
                               "machine": platform.processor() or platform.machine(), "runs": []}

    def record(**kw: Any) -> None:
        results["runs"].append(kw)
        print(json.dumps({k: v for k, v in kw.items() if k not in ("epoch_seconds", "valid_curve")}), file=sys.stderr,
              flush=True)

    for ds in [d for d in args.datasets.split(",") if d]:
        data = load(ds)
        for seed in [int(s) for s in args.seeds.split(",")]:
            with tempfile.TemporaryDirectory() as tmp:
                if peer:
                    write_benchmark_files(data, Path(tmp), "topk")
                for m in models:
                    epochs = args.vae_epochs if m == "multvae" else args.epochs
                    bs = args.vae_batch_size if m == "multvae" else args.batch_size
                    if not args.skip_ours:
                        record(dataset=ds, protocol=data.protocol, model=m, impl="ours", seed=seed,
                               **run_ours(m, data, seed, epochs, args, bs))
                    if peer and m in peer_models:
                        pe = args.recbole_vae_epochs if m == "multvae" else args.epochs
                        pb = args.recbole_vae_batch_size if m == "multvae" else args.batch_size
                        record(dataset=ds, protocol=data.protocol, model=m, impl="recbole-1.2.1", seed=seed,
                               config={"epochs": pe, "batch_size": pb},
                               **run_peer(peer, m, data, Path(tmp), args, seed, pe, pb))
            protocols = [x for x in args.protocols.split(",") if x]
            log = read_movielens_100k(SHARED_DATA / ds) if ds == "movielens_100k" else all_interactions(data)
            if "strong" in protocols:
                sg = strong_generalisation(log)
                record(dataset=ds, protocol=sg.protocol, model="multvae", impl="ours", seed=seed,
                       **run_ours("multvae", sg, seed, args.vae_epochs, args, args.vae_batch_size))
            if "loo" in protocols:
                loo = leave_one_out(log)
                record(dataset=ds, protocol=loo.protocol, model="neumf", impl="ours", seed=seed,
                       **run_ours("neumf", loo, seed, args.neumf_epochs, args, args.neumf_batch_size))
    text = json.dumps(results, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--recbole-peer":
        run_recbole_peer(sys.argv[2])
    else:
        main()
