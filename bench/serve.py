"""Serving benchmark: eager PyTorch against ONNX Runtime against int8, full against compact models.

For DNN, DeepFM and xDeepFM on the Criteo 18K sample, a full model (`lightfmp train`) and a compact
one (`lightfmp prune`, tau 0.5) are trained, exported (`lightfmp export --to onnx`) and timed:

* latency p50 and p99 (ms, one call per batch) at batch 1, 32 and 512, and throughput (rows/s) at
  batch 4,096;
* per engine: `eager` (PyTorch), `ort` (ONNX Runtime, fp32), `ort-int8` and `torch-int8` (dynamic
  int8 Linear layers, ``lightfmp.export.int8``);
* per input: `ids` (encoded ids in, logits out) and `raw` (a table of raw string columns in, as a
  server receives them, through the bundle's encoder, scores out).

Then the int8 AUC change on the test split of the Criteo 18K and MovieLens-1M samples, for the same
backbones (full and compact), and the issue's targets checked against this run's numbers.

Threads: `--threads` for torch and ONNX Runtime alike (default 1). Run it pinned on an otherwise idle
core, e.g. ``OMP_NUM_THREADS=1 taskset -c 1 python bench/serve.py``; runs and bundles are cached in
`--work` (outside the repository), so a second run only times.

Usage:
    python bench/serve.py [--work /tmp/lightfmp-serve] [--models dnn,deepfm,xdeepfm] [--threads 1]
    python bench/serve.py --smoke       # a tiny synthetic data set, a few repetitions: checks it runs
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import _util  # noqa: F401  (puts the repository on sys.path)
from _util import SHARED, print_table
from lightfmp.cli import main as cli_main
from lightfmp.data.dataset import PreparedData
from lightfmp.export import Bundle, export_run
from lightfmp.export.engines import OrtEngine, TorchEngine
from lightfmp.export.int8 import quantize_onnx, quantize_torch
from lightfmp.metrics import auc
from lightfmp.runs import load_run

BATCHES = (1, 32, 512)
THROUGHPUT_BATCH = 4096
ENGINES = ("eager", "ort", "ort-int8", "torch-int8")
CRITEO_COLUMNS = ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]


def cli(argv: list[str]) -> None:
    """A lightfmp verb in this process; its report (stdout) is dropped: the run folder keeps it."""
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            cli_main(argv)
    except SystemExit as exc:
        if exc.code:
            raise RuntimeError(f"lightfmp {' '.join(argv)} failed ({exc.code})") from None


def prepare(work: Path, name: str, smoke: bool) -> tuple[Path, Path | None]:
    """(prepared data folder, raw Criteo-format TSV for the encoder path or None)."""
    data = work / f"data_{name}"
    raw = None
    if name == "criteo18k":
        raw = work / "criteo18k.tsv"  # the prepare of this build reads text; the sample is gzipped
        if not raw.exists():
            with gzip.open(SHARED / "data" / "criteo_kaggle_18k" / "criteo_pooled.tsv.gz", "rb") as src, \
                    open(raw, "wb") as dst:
                shutil.copyfileobj(src, dst)
        args = ["--format", "criteo", "--input", str(raw)]
    elif name == "movielens1m":
        args = ["--format", "movielens", "--input", str(SHARED / "data" / "movielens_1m")]
    else:  # smoke: synthetic Criteo-shaped rows, written raw too
        from lightfmp.data.synthetic import write_criteo_tsv

        raw = write_criteo_tsv(work / "synthetic.tsv", 3000, seed=7)
        args = ["--format", "criteo", "--input", str(raw)]
    if not (data / "schema.json").exists():
        cli(["prepare", *args, "--out", str(data), "--quiet", *(["--pretrain-size", "300"] if smoke else [])])
    return data, raw


def train_runs(work: Path, data: Path, tag: str, models: list[str], smoke: bool, epochs: int) -> dict:
    """{(model, 'full'|'compact'): run folder}, trained once and cached."""
    extra = ["--epochs", str(epochs), "--quiet", "--seed", "0"]
    if smoke:
        extra += ["--hidden", "16,8", "--epochs", "1", "--batch-size", "256"]
    runs = {}
    for m in models:
        for variant, verb in (("full", ["train"]), ("compact", ["prune", "--prune-ratio", "0.5",
                                                                *(["--pretrain-size", "300"] if smoke else [])])):
            out = work / f"run_{tag}_{m}_{variant}"
            if not (out / "report.json").exists():
                t = time.perf_counter()
                cli([*verb, "--data", str(data), "--model", m, "--out", str(out), *extra])
                print(f"  trained {out.name} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            runs[(m, variant)] = out
    return runs


def engines_for(run_dir: Path, bundle_dir: Path, threads: int) -> dict[str, Any]:
    run = load_run(run_dir)
    if not (bundle_dir / "bundle.json").exists():
        export_run(run_dir, bundle_dir, "onnx")
    path = Bundle.load(bundle_dir).model_path
    return {"eager": TorchEngine(run.model), "ort": OrtEngine(path, threads),
            "ort-int8": OrtEngine(quantize_onnx(path), threads), "torch-int8": TorchEngine(quantize_torch(run.model))}


def timings(fn: Callable[[int], Any], reps: int, budget_s: float) -> np.ndarray:
    """Seconds of each call fn(i) after 3 warm-up calls; at least 10 calls, at most ``reps`` or the budget."""
    for i in range(3):
        fn(i)
    out = []
    start = time.perf_counter()
    for i in range(reps):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
        if i >= 9 and time.perf_counter() - start > budget_s:
            break
    return np.asarray(out)


def measure(engine: Any, batches: dict[int, list], encode: Callable | None, budget: float) -> dict[str, float]:
    """p50/p99 ms per latency batch size and rows/s at the throughput batch."""
    res: dict[str, float] = {}

    def call(b: int) -> Callable[[int], Any]:
        items = batches[b]
        if encode is None:
            return lambda i: engine.logits(items[i % len(items)])
        return lambda i: engine.logits(encode(items[i % len(items)]))

    for b in BATCHES:
        t = timings(call(b), reps={1: 400, 32: 300, 512: 100}[b], budget_s=budget)
        res[f"p50_{b}"], res[f"p99_{b}"] = float(np.median(t) * 1e3), float(np.percentile(t, 99) * 1e3)
        res[f"n_{b}"] = len(t)
    t = timings(call(THROUGHPUT_BATCH), reps=30, budget_s=budget)
    res["rows_s"] = THROUGHPUT_BATCH * len(t) / float(t.sum())
    res[f"rows_s_{BATCHES[-1]}"] = BATCHES[-1] / (res[f"p50_{BATCHES[-1]}"] / 1e3)
    return res


def batch_sets(X: np.ndarray, table: Any) -> tuple[dict[int, list], dict[int, list]]:
    """Distinct consecutive batches of every size, of encoded ids and of raw table slices (same rows)."""
    ids, raw = {}, {}
    n = len(X)
    for b in (*BATCHES, THROUGHPUT_BATCH):
        starts = [(i * b) % max(1, n - b) for i in range(max(1, min(16, n // b)))]
        ids[b] = [np.ascontiguousarray(X[s:s + b]) for s in starts]
        raw[b] = [table.slice(s, b) for s in starts] if table is not None else None
    return ids, raw


def raw_table(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return pacsv.read_csv(path, read_options=pacsv.ReadOptions(column_names=CRITEO_COLUMNS),
                          parse_options=pacsv.ParseOptions(delimiter="\t"),
                          convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in CRITEO_COLUMNS}))


def int8_auc(runs: dict, data: Path) -> list[list[Any]]:
    """AUC on the test split with each engine, fp32 and int8, and the change."""
    prepared = PreparedData.load(data)
    X, y = prepared.split("test")
    names = prepared.schema.names
    rows = []
    for (m, variant), run_dir in runs.items():
        run = load_run(run_dir)
        Xk = np.ascontiguousarray(X[:, [names.index(f) for f in run.schema.names]])
        bundle = run_dir.parent / f"bundle_{run_dir.name[4:]}"
        if not (bundle / "bundle.json").exists():
            export_run(run_dir, bundle, "onnx")
        path = Bundle.load(bundle).model_path
        for engine, fp32, q in (("onnxruntime", OrtEngine(path), OrtEngine(quantize_onnx(path))),
                                ("torch", TorchEngine(run.model), TorchEngine(quantize_torch(run.model)))):
            a32, a8 = auc(y, fp32.logits(Xk)), auc(y, q.logits(Xk))
            rows.append([data.name[5:], m, variant, len(run.schema.names), engine, f"{a32:.4f}", f"{a8:.4f}",
                         f"{a8 - a32:+.4f}"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/lightfmp-serve-bench"))
    ap.add_argument("--models", default="dnn,deepfm,xdeepfm")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--budget", type=float, default=1.5, help="seconds at most per timed cell (>= 10 calls)")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",")
    budget = 0.2 if args.smoke else args.budget
    print(f"# bench/serve.py: torch {torch.__version__}, threads {args.threads}, models {models}")

    latency_data = "smoke" if args.smoke else "criteo18k"
    data, raw = prepare(args.work, latency_data, args.smoke)
    runs = train_runs(args.work, data, latency_data, models, args.smoke, args.epochs)
    prepared = PreparedData.load(data)
    X_all, _ = prepared.split("train")  # plenty of rows for the throughput batch; scores are not checked
    table = raw_table(raw)
    results: dict[str, Any] = {"threads": args.threads, "latency": [], "auc": []}
    rows = []
    for (m, variant), run_dir in runs.items():
        bundle_dir = args.work / f"bundle_{run_dir.name[4:]}"
        engines = engines_for(run_dir, bundle_dir, args.threads)
        bundle = Bundle.load(bundle_dir)
        names = prepared.schema.names
        X = np.ascontiguousarray(X_all[:, [names.index(f) for f in bundle.schema.names]])
        ids, raws = batch_sets(X, table)
        encode = lambda t: bundle.encode(t)[0]  # noqa: E731
        for engine in ENGINES:
            for inp in ("ids", "raw"):
                r = measure(engines[engine], ids if inp == "ids" else raws, None if inp == "ids" else encode, budget)
                r.update(model=m, variant=variant, fields=len(bundle.schema.names), engine=engine, input=inp)
                results["latency"].append(r)
                rows.append([m, variant, r["fields"], engine, inp, *[f"{r[f'p{q}_{b}']:.3f}" for b in BATCHES
                                                                      for q in (50, 99)], f"{r['rows_s']:,.0f}"])
                print(f"  {m} {variant} {engine} {inp}: B=1 p50 {r['p50_1']:.3f} ms, 4096: {r['rows_s']:,.0f}/s",
                      file=sys.stderr)
    header = ["model", "variant", "fields", "engine", "input"] + [f"p{q} B={b} ms" for b in BATCHES for q in (50, 99)] \
        + [f"rows/s B={THROUGHPUT_BATCH}"]
    print_table(f"Latency and throughput on {latency_data}, {args.threads} thread(s)", header, rows)

    auc_rows = int8_auc(runs, data)
    if not args.smoke:
        ml, _ = prepare(args.work, "movielens1m", False)
        auc_rows += int8_auc(train_runs(args.work, ml, "movielens1m", models, False, args.epochs), ml)
    results["auc"] = auc_rows
    print_table("int8 AUC change on the test split", ["data", "model", "variant", "fields", "engine", "AUC fp32",
                                                      "AUC int8", "change"], auc_rows)
    targets(results, models)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def targets(results: dict, models: list[str]) -> None:
    """The issue's targets, met or missed, from this run's numbers."""
    lat = {(r["model"], r["variant"], r["engine"], r["input"]): r for r in results["latency"]}
    out = []
    if "dnn" in models:
        full, comp = lat[("dnn", "full", "eager", "ids")], lat[("dnn", "compact", "eager", "ids")]
        ort = lat[("dnn", "compact", "ort", "ids")]
        ratio = ort["p50_1"] / full["p50_1"]
        out.append(["compact DNN ORT p50 B=1 / eager full p50 B=1 <= 0.3", f"{ratio:.3f}", ratio <= 0.3])
        out.append(["compact DNN ORT rows/s B=512 >= eager compact", f"{ort['rows_s_512']:,.0f} vs "
                    f"{comp['rows_s_512']:,.0f}", ort["rows_s_512"] >= comp["rows_s_512"]])
        best = max((lat[("dnn", "compact", e, "raw")]["rows_s"], e) for e in ENGINES)
        out.append([f"raw rows -> scores, compact DNN, B=4096 >= 100,000 rows/s (best: {best[1]})",
                    f"{best[0]:,.0f}", best[0] >= 100_000])
    for m in models:
        for variant in ("full", "compact"):
            for q, f in (("ort-int8", "ort"), ("torch-int8", "eager")):
                a, b = lat[(m, variant, q, "ids")]["rows_s_512"], lat[(m, variant, f, "ids")]["rows_s_512"]
                out.append([f"{m} {variant} {q} / {f} rows/s B=512 >= 1.5", f"{a / b:.2f}", a / b >= 1.5])
    worst = {}
    for r in results["auc"]:
        key = (r[0], r[4])
        worst[key] = max(worst.get(key, 0.0), abs(float(r[7])))
    for (d, e), w in worst.items():
        out.append([f"int8 |AUC change| <= 0.001 on {d} ({e}, worst of all models)", f"{w:.4f}", w <= 0.001])
    print_table("Targets", ["target", "measured", "met"], [[a, b, "yes" if c else "MISSED"] for a, b, c in out])


if __name__ == "__main__":
    main()
