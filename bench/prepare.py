"""Benchmark `lightfmp prepare` against pandas.read_csv on the same raw Criteo-format file.

    python bench/prepare.py --rows 1000000
    python bench/prepare.py --rows 4000000        # memory should stay flat
    python bench/prepare.py --rows 20000 --repeat 1   # smoke run

Generates (once, cached under --workdir) a raw Criteo TSV of N synthetic rows, then, each in a
fresh subprocess so that peak memory (ru_maxrss of that child) is its own:
  * prepare: `lightfmp.data.prepare.prepare("criteo", file, out)`: parse, vocabularies, encode, write;
  * reference: `pandas.read_csv(file, sep="\\t", header=None)` alone (C engine, the default), no encoding;
  * with --parse-floor, pyarrow's fastest whole-file parse alone (every core, types given): the
    ceiling for any prepare that reads with pyarrow, as issue 3 asks (streaming, never a whole-file
    pandas frame), and polars' the same way where polars is installed (`.[bench]`). Measured
    with `--repeat 5 --parse-floor`: pyarrow 1.39 s, pandas 0.71 s; in a later run with `--repeat 3
    --parse-floor`: pyarrow 1.41 s, polars 2.1.0 1.34 s, pandas 0.83 s.
Times are taken inside the child around the call (interpreter start and imports excluded for both);
the median of --repeat runs is reported. Prints a table and the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
kind, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "prepare":
    from lightfmp.data.prepare import prepare
    t = time.perf_counter()
    d = prepare("criteo", path, out, progress=False)
    seconds = time.perf_counter() - t
    rows = sum(d.summary["rows"].values())
elif kind == "pyarrow":
    # The parse floor of a pyarrow reader: the whole file on every core, column types given (no
    # inference), categoricals as binary (no UTF-8 check, no dictionary), 4 MB blocks (the fastest of
    # 1, 4, 16, 64 MB here), nothing else done.
    import pyarrow as pa, pyarrow.csv as pc
    types = {"label": pa.int8(), **{f"I{i}": pa.float64() for i in range(1, 14)},
             **{f"C{i}": pa.binary() for i in range(1, 27)}}
    t = time.perf_counter()
    df = pc.read_csv(path, read_options=pc.ReadOptions(column_names=list(types), use_threads=True, block_size=4 << 20),
                     parse_options=pc.ParseOptions(delimiter="\t"), convert_options=pc.ConvertOptions(column_types=types))
    seconds = time.perf_counter() - t
    rows = df.num_rows
elif kind == "polars":
    # The other streaming-capable reader issue 3 names: its whole-file parse on every core, types given.
    import polars as pl
    schema = {"label": pl.Int8, **{f"I{i}": pl.Float64 for i in range(1, 14)}, **{f"C{i}": pl.Utf8 for i in range(1, 27)}}
    t = time.perf_counter()
    df = pl.read_csv(path, separator="\t", has_header=False, new_columns=list(schema), schema=schema)
    seconds = time.perf_counter() - t
    rows = df.height
else:
    import pandas as pd
    t = time.perf_counter()
    df = pd.read_csv(path, sep="\t", header=None)
    seconds = time.perf_counter() - t
    rows = len(df)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
print(json.dumps({"seconds": seconds, "rows": rows, "peak_bytes": peak}))
"""


def _child(kind: str, path: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", _CHILD, kind, str(path), str(out)], capture_output=True, text=True,
                         env=env, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "lightfmp-bench")
    ap.add_argument("--no-pandas", action="store_true", help="Skip the pandas reference.")
    ap.add_argument("--parse-floor", action="store_true",
                    help="Also time pyarrow's (and, if installed, polars') fastest whole-file parse alone "
                         "(every core, typed).")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from lightfmp.data.synthetic import write_criteo_tsv

    args.workdir.mkdir(parents=True, exist_ok=True)
    raw = args.workdir / f"criteo_synthetic_{args.rows}.tsv"
    if not raw.exists():
        t = time.perf_counter()
        tmp = raw.with_suffix(".partial")
        write_criteo_tsv(tmp, args.rows)
        tmp.rename(raw)
        print(f"generated {raw} ({raw.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s", flush=True)
    size_mb = raw.stat().st_size / 1e6
    results: dict[str, list[dict]] = {"lightfmp prepare": [], "pandas.read_csv": [], "pyarrow parse only": [],
                                      "polars parse only": []}
    import importlib.util

    with_polars = args.parse_floor and importlib.util.find_spec("polars") is not None
    for _ in range(args.repeat):
        results["lightfmp prepare"].append(_child("prepare", raw, args.workdir / f"prepared_{args.rows}"))
        if not args.no_pandas:
            results["pandas.read_csv"].append(_child("pandas", raw, args.workdir / "unused"))
        if args.parse_floor:
            results["pyarrow parse only"].append(_child("pyarrow", raw, args.workdir / "unused"))
        if with_polars:
            results["polars parse only"].append(_child("polars", raw, args.workdir / "unused"))

    print(f"\n{args.rows:,} raw Criteo rows, {size_mb:.0f} MB, median of {args.repeat} (cores: {os.cpu_count()})")
    print(f"{'method':<20} {'seconds':>8} {'rows/s':>10} {'peak MB':>8}")
    summary = {}
    for name, runs in results.items():
        if not runs:
            continue
        sec = statistics.median(r["seconds"] for r in runs)
        peak = max(r["peak_bytes"] for r in runs) / 1e6
        summary[name] = (sec, peak)
        print(f"{name:<20} {sec:>8.2f} {runs[0]['rows'] / sec:>10,.0f} {peak:>8.0f}")
    if "pandas.read_csv" in summary:
        (ps, pm), (rs, rm) = summary["lightfmp prepare"], summary["pandas.read_csv"]
        print(f"\nprepare speed vs pandas.read_csv alone: {rs / ps:.2f}x  (>1 means prepare is faster)")
        print(f"prepare peak memory vs pandas.read_csv: {pm / rm:.2f}x")
        if "pyarrow parse only" in summary:
            print(f"pyarrow parse alone vs pandas.read_csv alone: {rs / summary['pyarrow parse only'][0]:.2f}x  "
                  "(the ceiling for any pyarrow-based prepare)")
        if "polars parse only" in summary:
            print(f"polars parse alone vs pandas.read_csv alone: {rs / summary['polars parse only'][0]:.2f}x  "
                  "(the ceiling for any polars-based prepare)")
    ps, pm = summary["lightfmp prepare"]
    print(f"targets: >= 250,000 rows/s -> {args.rows / ps:,.0f}; peak < 1500 MB at 1M rows -> {pm:.0f} MB")


if __name__ == "__main__":
    main()
