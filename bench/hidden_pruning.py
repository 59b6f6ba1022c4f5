"""Joint structured pruning (issue 25) against field-only Light-FMP, No Selection and two controls.

Per seed, on one data set and backbone:
  * No Selection (all fields, the config's widths, the whole train split);
  * field-only Light-FMP at each tau (``--taus``, the paper's method);
  * joint pruning at each budget (``--budgets``: kept share of No Selection's multiply-adds per sample,
    or of its parameters with ``--measure params``): ``LightFMP(budget="flops=B")``;
  * control (a) "scratch": the same fields and widths as joint pruning at that budget, freshly
    initialised, trained on the same rows (``init="scratch"``; same seed, so phase 1 picks the same
    architecture): does pruning beat training the small model?
  * control (b) "magnitude": No Selection's trained model cut to the same widths by weight magnitude
    (`lightfmp.pruning.magnitude`), then fine-tuned on the train split (its time: No Selection's + the
    fine-tuning).
Every model's multiply-adds per sample come from `lightfmp.pruning.cost.count`; inference throughput is
rows per second of the final model at batch ``--it-batch`` on the kept test columns, in this one process
(best of ``--it-repeats``), with ``--threads`` intra-op threads (1 by default, for training
too). The JSON holds every record; the PNG draws test AUC (mean over seeds) against
multiply-adds per sample (log scale), one curve per method. Targets (issue 25) are checked at the 0.1
budget and printed as met / MISSED.

Runs (as measured for the report; the machine's 2 cores are shared, so times are noisy):
  python bench/hidden_pruning.py --data movielens_1m --model dnn --seeds 2 --epochs 2
  python bench/hidden_pruning.py --data synthetic --rows 1000000 --model dnn --seeds 1 --epochs 1 \
      --budgets 0.1 --taus 0.5 --controls none
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lightfmp.data.open import open_data  # noqa: E402
from lightfmp.experiment import run  # noqa: E402
from lightfmp.models import ModelConfig  # noqa: E402
from lightfmp.pruning.cost import count  # noqa: E402
from lightfmp.pruning.magnitude import magnitude_plan  # noqa: E402
from lightfmp.pruning.pretrain import PretrainConfig  # noqa: E402
from lightfmp.pruning.slicing import apply_plan  # noqa: E402
from lightfmp.train import TrainConfig, evaluate, fit  # noqa: E402

SOURCES = {
    "movielens_1m": ("movielens", SHARED / "movielens_1m"),
    "criteo_18k": ("criteo", SHARED / "criteo_kaggle_18k" / "criteo_pooled.tsv.gz"),
}


def open_dataset(args: argparse.Namespace) -> Any:
    if args.data == "synthetic":
        return open_data(fmt="synthetic", rows=args.rows, progress=False)
    fmt, src = SOURCES[args.data]
    return open_data(fmt=fmt, input=src, progress=False)


def model_cost(name: str, model: Any, vocab: list[int], kept: list[int]) -> dict[str, float]:
    """Parameters and multiply-adds per sample of a final model (kept fields, its own widths)."""
    w = [0.0] * len(vocab)
    for i in kept:
        w[i] = 1.0
    c = count(name, model.cfg, vocab, w, hidden=model.cfg.hidden, cin=model.cfg.cin_layers)
    return {"params": float(c.params), "flops": float(c.flops)}


@torch.no_grad()
def throughput(model: Any, X: np.ndarray, batch: int, repeats: int) -> float:
    """Rows per second of ``model`` in eval mode on ``X`` (kept columns), whole batches, best of ``repeats``."""
    model.eval()
    xs = torch.as_tensor(np.array(X, copy=True), dtype=torch.long)
    n = (len(xs) // batch) * batch or len(xs)
    chunks = list(xs[:n].split(batch))
    model(chunks[0])  # warm-up
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for c in chunks:
            model(c)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def record(method: str, setting: float | None, seed: int, r: Any, name: str, vocab: list[int], Xt: np.ndarray,
           args: argparse.Namespace, pt: float | None = None, ct: float | None = None) -> dict[str, Any]:
    kept = list(r.kept)
    out = {"method": method, "setting": setting, "seed": seed, "auc": r.test.auc, "logloss": r.test.logloss,
           "pt": r.pretrain_seconds if pt is None else pt, "ct": r.continued_seconds if ct is None else ct,
           "fields": len(kept), "hidden": list(r.model.cfg.hidden), "cin": list(r.model.cfg.cin_layers),
           **model_cost(name, r.model, vocab, kept),
           "rows_per_second": throughput(r.model, Xt[:, kept], args.it_batch, args.it_repeats)}
    out["tt"] = out["pt"] + out["ct"]
    print(f"{method:12} {'' if setting is None else setting:>6} seed {seed}: AUC {out['auc']:.4f} "
          f"flops {out['flops']:>10,.0f} fields {out['fields']:>2} hidden {out['hidden']} TT {out['tt']:.1f}s "
          f"IT {out['rows_per_second']:,.0f} rows/s", flush=True)
    return out


class _Fitted:
    """A RunResult-like record for control (b), which the pipeline does not run."""

    def __init__(self, model: Any, kept: list[int], test: Any, ct: float):
        self.model, self.kept, self.test, self.pretrain_seconds, self.continued_seconds = model, kept, test, 0.0, ct


def magnitude_control(none_run: Any, joint_run: Any, data: Any, tcfg: TrainConfig) -> _Fitted:
    """Control (b): No Selection's model cut to joint pruning's widths by magnitude, then fine-tuned."""
    est = joint_run.estimator
    widths = {"fields": len(joint_run.kept), **{p: len(u) for p, u in est.units_.items()}}
    compact = apply_plan(none_run.model, magnitude_plan(none_run.model, widths))
    kept = list(magnitude_plan(none_run.model, widths).fields)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = data.split("train"), data.split("valid"), data.split("test")
    t0 = time.perf_counter()
    fit(compact, (np.ascontiguousarray(np.asarray(Xtr)[:, kept]), ytr),
        (np.ascontiguousarray(np.asarray(Xva)[:, kept]), yva), tcfg, progress=False, phase="fine-tuning")
    ct = time.perf_counter() - t0
    test = evaluate(compact, np.ascontiguousarray(np.asarray(Xte)[:, kept]), yte, tcfg.eval_batch_size, tcfg.device)
    return _Fitted(compact, kept, test, ct)


def throughput_only(a: argparse.Namespace, data: Any, mcfg: ModelConfig, vocab: list[int], Xt: np.ndarray,
                    budgets: list[float], out: Path) -> dict[str, Any]:
    """Rows per second of No Selection's architecture and of joint pruning's compact model per budget
    (phases 1 and 2 only), per seed; the ratios against No Selection."""
    from lightfmp.models import build_model
    from lightfmp.pruning.lightfmp import LightFMP

    rows = []
    for seed in range(a.seeds):
        full = build_model(a.model, vocab, mcfg)
        base = throughput(full, Xt, a.it_batch, a.it_repeats)
        rows.append({"method": "none", "setting": None, "seed": seed, "rows_per_second": base,
                     **model_cost(a.model, full, vocab, list(range(len(vocab))))})
        for b in budgets:
            est = LightFMP(a.model, model_config=mcfg, seed=seed, budget=f"{a.measure}={b}",
                           train_config=TrainConfig(seed=seed)).resolve(data)
            t0 = time.perf_counter()
            est.choose(data).cut()
            pt = time.perf_counter() - t0
            ips = throughput(est.model_, Xt[:, est.support_], a.it_batch, a.it_repeats)
            rows.append({"method": "joint", "setting": b, "seed": seed, "rows_per_second": ips, "ratio": ips / base,
                         "pt": pt, "pretrain_steps": est.pretrain_.steps, "fields": len(est.support_),
                         "hidden": list(est.model_.cfg.hidden), "cin": list(est.model_.cfg.cin_layers),
                         **model_cost(a.model, est.model_, vocab, est.support_)})
            print(f"joint {b:g} seed {seed}: {ips:,.0f} rows/s against {base:,.0f} ({ips / base:.1f}x), "
                  f"flops {rows[-1]['flops']:,.0f}, fields {len(est.support_)}, hidden {rows[-1]['hidden']}, "
                  f"cin {rows[-1]['cin']}, PT {pt:.1f}s", flush=True)
    result = {"args": vars(a), "records": rows}
    out.write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {out}")
    return result


def summarise(records: list[dict[str, Any]], budgets: list[float]) -> dict[str, Any]:
    """Means per (method, setting) and the issue's targets at the 0.1 budget, paired by seed."""
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["method"], r["setting"]), []).append(r)
    table = []
    for (method, setting), rs in groups.items():
        table.append({"method": method, "setting": setting, "seeds": len(rs),
                      **{k: statistics.mean(r[k] for r in rs) for k in ("auc", "logloss", "flops", "params", "tt",
                                                                        "pt", "ct", "rows_per_second")},
                      "auc_sd": statistics.stdev([r["auc"] for r in rs]) if len(rs) > 1 else 0.0})
    by = {(r["method"], r["setting"], r["seed"]): r for r in records}
    seeds = sorted({r["seed"] for r in records})
    targets: dict[str, Any] = {}
    if 0.1 in budgets and all(("none", None, s) in by and ("joint", 0.1, s) in by for s in seeds):
        none = [by[("none", None, s)] for s in seeds]
        joint = [by[("joint", 0.1, s)] for s in seeds]
        d = [j["auc"] - n["auc"] for j, n in zip(joint, none)]
        targets["flops_share_at_0.1"] = statistics.mean(j["flops"] / n["flops"] for j, n in zip(joint, none))
        targets["auc_minus_none"] = {"per_seed": d, "mean": statistics.mean(d), "met": statistics.mean(d) >= -0.002}
        if all(("scratch", 0.1, s) in by for s in seeds):
            a = [j["auc"] - by[("scratch", 0.1, s)]["auc"] for j, s in zip(joint, seeds)]
            targets["auc_minus_scratch"] = {"per_seed": a, "mean": statistics.mean(a), "met": statistics.mean(a) > 0}
        if all(("magnitude", 0.1, s) in by for s in seeds):
            b = [j["auc"] - by[("magnitude", 0.1, s)]["auc"] for j, s in zip(joint, seeds)]
            targets["auc_minus_magnitude"] = {"per_seed": b, "mean": statistics.mean(b)}
        it = [j["rows_per_second"] / n["rows_per_second"] for j, n in zip(joint, none)]
        tt = [j["tt"] / n["tt"] for j, n in zip(joint, none)]
        targets["throughput_ratio"] = {"per_seed": it, "mean": statistics.mean(it), "met": statistics.mean(it) >= 4}
        targets["tt_ratio"] = {"per_seed": tt, "mean": statistics.mean(tt), "met": statistics.mean(tt) <= 0.5}
    return {"table": table, "targets": targets}


def plot(summary: dict[str, Any], path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = {"none": "No Selection", "fields": "Light-FMP fields only (tau)", "joint": "joint pruning (budget)",
              "scratch": "(a) compact from scratch", "magnitude": "(b) magnitude + fine-tune"}
    styles = {"none": "k*", "fields": "o-", "joint": "s-", "scratch": "^--", "magnitude": "v--"}
    for method, label in labels.items():
        rows = sorted((r for r in summary["table"] if r["method"] == method), key=lambda r: r["flops"])
        if not rows:
            continue
        ax.plot([r["flops"] for r in rows], [r["auc"] for r in rows], styles[method], label=label,
                markersize=10 if method == "none" else 6)
        for r in rows:
            if r["setting"] is not None:
                ax.annotate(f"{r['setting']:g}", (r["flops"], r["auc"]), textcoords="offset points", xytext=(4, 4),
                            fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("multiply-adds per sample (log scale)")
    ax.set_ylabel("test AUC (mean over seeds)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", choices=["movielens_1m", "criteo_18k", "synthetic"], default="movielens_1m")
    p.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows")
    p.add_argument("--model", default="dnn")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--budgets", default="0.5,0.25,0.1,0.05")
    p.add_argument("--taus", default="0.25,0.5,0.75")
    p.add_argument("--measure", choices=["flops", "params"], default="flops")
    p.add_argument("--controls", default="scratch,magnitude", help="comma-separated, or 'none'")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--embed-dim", type=int, default=10)
    p.add_argument("--hidden", default="400,400,200")
    p.add_argument("--it-batch", type=int, default=4096)
    p.add_argument("--it-repeats", type=int, default=3)
    p.add_argument("--keep-fields", default="",
                   help="F1,F2: fields kept whatever the masks say (LightFMP(keep_fields=...)), for every Light-FMP "
                        "run and control (a); e.g. MovieLens' user_id, 98%% unknown inside D_S under the guard")
    p.add_argument("--throughput-only", action="store_true",
                   help="phases 1-2 only (no training): throughput of No Selection's architecture against joint "
                        "pruning's compact model at each budget (for backbones too slow to train here, e.g. "
                        "xDeepFM on 1,000,000 rows); the weights do not change a dense model's speed")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads for everything (default 1: on a shared 2-core machine a second "
                        "OpenMP thread that waits for a time slice stalls every matmul; measured 38 ms against "
                        "1.0 ms for a [4096, 40] x [40, 64] mm)")
    p.add_argument("--out", default=None,
                   help="JSON path (default out/hidden_pruning_<data>_<model>.json; the PNG beside it)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    budgets = [float(b) for b in a.budgets.split(",") if b]
    taus = [float(t) for t in a.taus.split(",") if t]
    controls = [] if a.controls == "none" else a.controls.split(",")
    keep = [f for f in a.keep_fields.split(",") if f]
    out = Path(a.out) if a.out else ROOT / "out" / f"hidden_pruning_{a.data}_{a.model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = open_dataset(a)
    vocab = list(data.schema.vocab_sizes)
    Xt = np.asarray(data.split("test")[0])
    mcfg = ModelConfig(embed_dim=a.embed_dim, hidden=tuple(int(h) for h in a.hidden.split(",")))
    records: list[dict[str, Any]] = []
    if a.throughput_only:
        return throughput_only(a, data, mcfg, vocab, Xt, budgets, out)
    print(f"{a.data}: {len(data.split('train')[1]):,} train rows, {data.schema.num_fields} fields, {a.model}, "
          f"No Selection {count(a.model, mcfg, vocab).flops:,.0f} multiply-adds per sample", flush=True)
    for seed in range(a.seeds):
        tcfg = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, seed=seed)
        none = run("none", data, model_name=a.model, model_cfg=mcfg, train_cfg=tcfg)
        records.append(record("none", None, seed, none, a.model, vocab, Xt, a))
        for tau in taus:
            r = run("lightfmp", data, model_name=a.model, model_cfg=mcfg, train_cfg=tcfg, prune_ratio=tau,
                    keep_fields=keep)
            records.append(record("fields", tau, seed, r, a.model, vocab, Xt, a))
        for b in budgets:
            pcfg = PretrainConfig(budget=f"{a.measure}={b}")
            joint = run("lightfmp", data, model_name=a.model, model_cfg=mcfg, train_cfg=tcfg, pretrain_cfg=pcfg,
                        keep_fields=keep)
            records.append(record("joint", b, seed, joint, a.model, vocab, Xt, a))
            records[-1]["pretrain_steps"] = joint.estimator.pretrain_.steps
            if "scratch" in controls:
                r = run("lightfmp", data, model_name=a.model, model_cfg=mcfg, train_cfg=tcfg, pretrain_cfg=pcfg,
                        init="scratch", keep_fields=keep)
                records.append(record("scratch", b, seed, r, a.model, vocab, Xt, a))
            if "magnitude" in controls:
                r = magnitude_control(none, joint, data, tcfg)
                records.append(record("magnitude", b, seed, r, a.model, vocab, Xt, a, pt=none.continued_seconds))
        summary = summarise(records, budgets)
        result = {"args": vars(a), "records": records, **summary}
        out.write_text(json.dumps(result, indent=1, default=float))
    plot(summary, out.with_suffix(".png"), f"{a.model} on {a.data}, {a.seeds} seed(s), {a.epochs} epoch(s)")
    print(json.dumps(summary["targets"], indent=1, default=float))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return result


if __name__ == "__main__":
    main()
