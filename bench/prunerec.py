"""PruneRec on a LLaMA-style next-item transformer: the unpruned model, the three stages with restoration,
the controls, and RecBole's SASRec as the dense peer, on Amazon Games (DEALRec split) and ML-100K.

Per data set and seed, one JSON line per model in ``--out`` (``results.jsonl``) with non-embedding
parameters, the share pruned, validation and test HR/NDCG@5,10,20, the share of the unpruned model's test
NDCG@10 retained, latency per user (batch 1 and batch 256), and training/restoration time; then a table and
a figure of retained NDCG@10 against share pruned (``prunerec_retained.png``).

Models: ``dense`` (CE); ``prunerec/width``, ``/mlp``, ``/depth`` (each restored by 0.2 CE + 0.8 KL from the
dense model, early stopping on validation loss); ``random/...`` (the same cuts at random, same
restoration); ``depth-only`` (greedy whole-layer removal to the final PruneRec budget, then restoration);
``scratch-ce`` and ``scratch-kd`` (the final PruneRec architecture trained from scratch, CE alone and with
the same distillation); ``recbole-sasrec`` (RecBole 1.2.1 in its own environment, ``--recbole-python``,
given exactly our split as benchmark files; skipped with a line when absent).

Example (CPU, one thread, a few minutes per model on ML-100K):
    nice -n 10 python bench/prunerec.py --data movielens_100k --seeds 0 --out results/prunerec
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lightfmp.sequential.data import SequenceData, load_sequences  # noqa: E402
from lightfmp.sequential.latency import latency_per_user  # noqa: E402
from lightfmp.sequential.prunerec import PruneRecConfig, depth_only, run_stages  # noqa: E402
from lightfmp.sequential.train import FitConfig, evaluate_next_item, fit_next_item  # noqa: E402
from lightfmp.sequential.transformer import NextItemTransformer, TransformerConfig, non_embedding_params  # noqa: E402

DATA = {"amazon_games": ROOT / ".." / "shared" / "data" / "amazon_games",
        "movielens_100k": ROOT / ".." / "shared" / "data" / "movielens_100k"}
RECBOLE_SCRIPT = Path(__file__).with_name("_recbole_sasrec.py")


def record(name: str, model: NextItemTransformer, data: SequenceData, dense: dict | None, seconds: float,
           extra: dict | None = None) -> dict[str, Any]:
    """One result row: sizes, metrics, retained share, latency."""
    test = evaluate_next_item(model, data, "test")
    valid = evaluate_next_item(model, data, "valid")
    params = non_embedding_params(model)
    row = {"model": name, "non_embedding_params": params, "embedding_params": model.item_emb.weight.numel(),
           "arch": {"d_model": model.cfg.d_model, "head_dim": model.cfg.head_dim, "heads": list(model.cfg.heads),
                    "ff": list(model.cfg.ff)},
           "test": test, "valid": valid, "seconds": seconds,
           "latency_b1_ms": 1e3 * latency_per_user(model, data, batch_size=1, batches=40),
           "latency_b256_ms": 1e3 * latency_per_user(model, data, batch_size=256, batches=5, warmup=1)}
    if dense is not None:
        row["share_pruned"] = 1 - params / dense["non_embedding_params"]
        row["ndcg10_retained"] = test["ndcg@10"] / dense["test"]["ndcg@10"]
        row["latency_b1_ratio"] = row["latency_b1_ms"] / dense["latency_b1_ms"]
        row["latency_b256_ratio"] = row["latency_b256_ms"] / dense["latency_b256_ms"]
    else:
        row["share_pruned"], row["ndcg10_retained"] = 0.0, 1.0
    row.update(extra or {})
    print(f"  {name:<18} params {params:>9,}  pruned {row['share_pruned']:.3f}  test ndcg@10 {test['ndcg@10']:.4f}"
          f"  retained {row['ndcg10_retained']:.3f}  lat b1 {row['latency_b1_ms']:.2f} ms  b256 "
          f"{row['latency_b256_ms']:.3f} ms  {seconds:.0f} s", flush=True)
    return row


def _curve(res: Any) -> list[dict[str, float]]:
    """Validation NDCG@10 and loss per epoch of a fit, to show whether a capped run was still improving."""
    return [{"epoch": h["epoch"], "ndcg@10": round(h["ndcg@10"], 5), "loss": round(h["loss"], 5)} for h in res.history]


def write_recbole_files(data: SequenceData, folder: Path) -> Path:
    """Our split as RecBole benchmark atomic files (``<name>.{train,valid,test}.inter``, ``item_id_list``
    given, so RecBole does no augmentation of its own): one training row per target position of the
    training sequences, one validation and one test row per user, exactly our inputs and targets."""
    name = data.name
    out = folder / name
    out.mkdir(parents=True, exist_ok=True)
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    L = data.max_len
    tr = data.train
    rows, pos = np.nonzero(np.arange(tr.seqs.shape[1])[None, :] < tr.lengths.numpy()[:, None])
    keep = pos >= 1
    rows, pos = rows[keep], pos[keep]
    seqs = tr.seqs.numpy()

    def lines(users: np.ndarray, hists: list[np.ndarray], targets: np.ndarray) -> str:
        return "".join(f"{u}\t{' '.join(map(str, h))}\t{t}\n" for u, h, t in zip(users, hists, targets))

    hist = [seqs[r, max(0, p - L):p] for r, p in zip(rows, pos)]
    (out / f"{name}.train.inter").write_text(header + lines(rows, hist, seqs[rows, pos]))
    for split in ("valid", "test"):
        s = data.split(split)
        hs = [s.seqs[i, :int(s.lengths[i])].numpy() for i in range(len(s))]
        (out / f"{name}.{split}.inter").write_text(header + lines(np.arange(len(s)) + 10**7, hs, s.targets.numpy()))
    return folder


def run_recbole(python: str | None, data: SequenceData, seed: int, epochs: int, timeout: float) -> dict | None:
    """RecBole's SASRec on our split in a subprocess; None (and a line saying why) when it cannot run."""
    if not python or not Path(python).exists():
        print(f"  recbole-sasrec: skipped (no RecBole interpreter at {python!r}; see --recbole-python)", flush=True)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        write_recbole_files(data, Path(tmp))
        cmd = [python, str(RECBOLE_SCRIPT), "--data-path", tmp, "--dataset", data.name, "--seed", str(seed),
               "--epochs", str(epochs), "--max-len", str(data.max_len)]
        t0 = time.perf_counter()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  recbole-sasrec: stopped after {timeout:.0f} s (--recbole-timeout)", flush=True)
            return None
    if done.returncode != 0:
        print(f"  recbole-sasrec: failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    res = json.loads(done.stdout.strip().splitlines()[-1])
    res.update(model="recbole-sasrec", seconds=time.perf_counter() - t0)
    print(f"  recbole-sasrec      test ndcg@10 {res['test']['ndcg@10']:.4f}  ({res['seconds']:.0f} s, "
          f"{res['epochs_run']} epochs)", flush=True)
    return res


def bench_one(name: str, seed: int, args: argparse.Namespace, out: Path) -> list[dict]:
    data = load_sequences(name, DATA[name], max_len=args.max_len)
    torch.manual_seed(seed)
    mcfg = TransformerConfig(num_items=data.num_items, d_model=args.d_model, n_layers=args.layers,
                             n_heads=args.heads, head_dim=args.d_model // args.heads, d_ff=args.d_ff,
                             max_len=args.max_len, dropout=args.dropout)
    fit = FitConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience, seed=seed,
                    max_seconds=args.max_minutes * 60)
    restore_cfg = replace(fit, epochs=args.restore_epochs, patience=args.restore_patience, select_on="loss")
    rows: list[dict] = []

    def emit(row: dict) -> None:
        row.update(data=name, seed=seed)
        rows.append(row)
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    print(f"{name} seed {seed}: {len(data.train)} train / {len(data.valid)} valid / {len(data.test)} test users, "
          f"{data.num_items} items", flush=True)
    dense_model = NextItemTransformer(mcfg)
    res = fit_next_item(dense_model, data, fit)
    dense = record("dense", dense_model, data, None, res.seconds,
                   {"best_epoch": res.best_epoch, "epochs_run": res.epochs_run, "history": _curve(res)})
    emit(dense)

    def restore(student: NextItemTransformer, teacher: NextItemTransformer) -> dict:
        r = fit_next_item(student, data, restore_cfg, teacher=teacher)
        return {"best_epoch": r.best_epoch, "epochs_run": r.epochs_run, "restore_seconds": r.seconds,
                "history": _curve(r)}

    pcfg = PruneRecConfig(heads_pruned=args.prune_heads, dim_keep=args.dim_keep, ff_keep=args.ff_keep,
                          layers_keep=args.layers_keep, calib_size=args.calib, seed=seed)
    stages = run_stages(dense_model, data, pcfg, restore)
    for st in stages:
        emit(record(f"prunerec/{st.name}", st.model, data, dense, st.restore_seconds,
                    {"score_seconds": st.score_seconds, **st.restore_info}))
    final = stages[-1].model
    for kind in ("scratch-ce", "scratch-kd"):       # the key control first: does pruning beat training small?
        if kind not in args.controls:
            continue
        torch.manual_seed(seed)
        small = NextItemTransformer(final.cfg)
        if kind == "scratch-ce":
            r = fit_next_item(small, data, fit)
        else:
            r = fit_next_item(small, data, replace(fit, select_on="loss"), teacher=dense_model)
        emit(record(kind, small, data, dense, r.seconds,
                    {"best_epoch": r.best_epoch, "epochs_run": r.epochs_run, "history": _curve(r)}))
    if "depth-only" in args.controls:
        st = depth_only(dense_model, data, non_embedding_params(final), restore, calib_size=args.calib, seed=seed)
        emit(record("depth-only", st.model, data, dense, st.restore_seconds,
                    {"dropped": list(st.cut.drop), **st.restore_info}))
    if "random" in args.controls:
        for st in run_stages(dense_model, data, pcfg, restore, random_cuts=True):
            emit(record(f"random/{st.name}", st.model, data, dense, st.restore_seconds,
                        {"score_seconds": st.score_seconds, **st.restore_info}))
    peer = run_recbole(args.recbole_python, data, seed, args.recbole_epochs, args.recbole_timeout)
    if peer is not None:
        emit(peer)
    return rows


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = sorted({r["data"] for r in rows})
    fig, axes = plt.subplots(1, len(sets), figsize=(5.5 * len(sets), 4), squeeze=False)
    for ax, name in zip(axes[0], sets):
        rs = [r for r in rows if r["data"] == name and "share_pruned" in r]
        for prefix, style in (("prunerec", "o-"), ("random", "s--")):
            pts = sorted((r["share_pruned"], r["ndcg10_retained"]) for r in rs if r["model"].startswith(prefix))
            if pts:   # each line starts at the unpruned model
                pts = [(0.0, 1.0)] + pts
                ax.plot(*zip(*pts), style, label=prefix)
        for model, marker in (("depth-only", "^"), ("scratch-ce", "x"), ("scratch-kd", "+")):
            pts = [(r["share_pruned"], r["ndcg10_retained"]) for r in rs if r["model"] == model]
            if pts:
                ax.plot(*zip(*pts), marker, markersize=10, linestyle="none", label=model)
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.axhline(0.85, color="grey", lw=0.5, ls=":")
        ax.axvline(0.9, color="grey", lw=0.5, ls=":")
        ax.set(title=name, xlabel="share of non-embedding parameters pruned", ylabel="test NDCG@10 retained")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def table(rows: list[dict]) -> str:
    """Markdown: mean over seeds per data set and model."""
    lines = ["| data | model | seeds | non-emb params | pruned | test NDCG@10 | retained | HR@10 | lat b1 ms | "
             "lat b256 ms | time s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r["data"], r["model"]) for r in rows))
    for d, m in keys:
        rs = [r for r in rows if r["data"] == d and r["model"] == m]

        def mean(f) -> str:
            vals = [f(r) for r in rs if f(r) is not None]
            if not vals:
                return "-"
            sd = f" ± {np.std(vals):.4f}" if len(vals) > 1 else ""
            return f"{np.mean(vals):.4f}{sd}"
        lines.append(f"| {d} | {m} | {len(rs)} | {rs[0].get('non_embedding_params', '-')} | "
                     f"{mean(lambda r: r.get('share_pruned'))} | {mean(lambda r: r['test']['ndcg@10'])} | "
                     f"{mean(lambda r: r.get('ndcg10_retained'))} | {mean(lambda r: r['test']['hr@10'])} | "
                     f"{mean(lambda r: r.get('latency_b1_ms'))} | {mean(lambda r: r.get('latency_b256_ms'))} | "
                     f"{mean(lambda r: r.get('seconds'))} |")
    return "\n".join(lines)


def latency_from(path: Path, data_names: list[str], max_len: int, rounds: int = 3) -> str:
    """Latency per user re-measured for every architecture in a results file, interleaved (round-robin,
    ``rounds`` times, the minimum over all batches kept: on a shared machine the median mostly measures
    preemption) so that all models see the same machine load. Latency depends on the architecture only,
    so the weights are fresh random ones."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = ["| data | model | non-emb params | lat b1 ms | ratio b1 | lat b256 ms | ratio b256 |", "|---|---|---|---|---|---|---|"]
    for name in data_names:
        rs = [r for r in rows if r["data"] == name and "arch" in r and r.get("seed") == rows[0].get("seed")]
        if not rs:
            continue
        data = load_sequences(name, DATA[name], max_len=max_len)
        models = {}
        for r in rs:
            a = r["arch"]
            cfg = TransformerConfig(num_items=data.num_items, d_model=a["d_model"], n_layers=len(a["heads"]),
                                    head_dim=a.get("head_dim", 16),
                                    heads=tuple(a["heads"]), ff=tuple(a["ff"]), max_len=max_len)
            models[r["model"]] = NextItemTransformer(cfg).eval()
        best = {m: [float("inf"), float("inf")] for m in models}
        for _ in range(rounds):
            for m, model in models.items():
                best[m][0] = min(best[m][0], latency_per_user(model, data, batch_size=1, batches=20, reduce="min"))
                best[m][1] = min(best[m][1], latency_per_user(model, data, batch_size=256, batches=3, warmup=1,
                                                              reduce="min"))
        d1, d256 = best["dense"]
        for m, (b1, b256) in best.items():
            lines.append(f"| {name} | {m} | {non_embedding_params(models[m]):,} | {1e3 * b1:.3f} | {b1 / d1:.3f} | "
                         f"{1e3 * b256:.4f} | {b256 / d256:.3f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", default=["movielens_100k", "amazon_games"], choices=sorted(DATA))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--out", type=Path, default=ROOT / "results" / "prunerec")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 on a shared machine)")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--d-ff", type=int, default=512)
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-minutes", type=float, default=60.0, help="wall-time cap of one fit")
    p.add_argument("--restore-epochs", type=int, default=10)
    p.add_argument("--restore-patience", type=int, default=2)
    p.add_argument("--prune-heads", type=int, default=4, help="heads pruned per layer (k of H)")
    p.add_argument("--dim-keep", type=float, default=0.5)
    p.add_argument("--ff-keep", type=int, default=64)
    p.add_argument("--layers-keep", type=int, default=2)
    p.add_argument("--calib", type=int, default=256)
    p.add_argument("--controls", nargs="*", default=["random", "depth-only", "scratch-ce", "scratch-kd"])
    p.add_argument("--recbole-python", default=None, help="python of a RecBole 1.2.1 environment (the peer)")
    p.add_argument("--recbole-epochs", type=int, default=50)
    p.add_argument("--recbole-timeout", type=float, default=3600.0)
    p.add_argument("--from", dest="from_results", type=Path, default=None,
                   help="train nothing: table and figure of this results.jsonl, latency re-measured interleaved")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.from_results is not None:
        rows = [json.loads(line) for line in args.from_results.read_text().splitlines() if line.strip()]
        folder = args.from_results.parent
        md = table(rows) + "\n\nLatency per user, re-measured interleaved (minimum over 3 rounds of batches):\n\n" + latency_from(
            args.from_results, args.data, args.max_len)
        print(md)
        (folder / "table.md").write_text(md + "\n")
        figure(rows, folder / "prunerec_retained.png")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1))
    rows = []
    for name in args.data:
        for seed in args.seeds:
            rows += bench_one(name, seed, args, args.out)
    md = table(rows)
    print(md)
    (args.out / "table.md").write_text(md + "\n")
    figure(rows, args.out / "prunerec_retained.png")


if __name__ == "__main__":
    main()
