"""`lightfmp prepare`: raw data -> a prepared data folder, then a short summary (or JSON)."""
from __future__ import annotations

import json
import time

import click

from lightfmp.cli.common import column_names
from lightfmp.data.sources import FORMATS
from lightfmp.errors import InputError


@click.command("prepare")
@click.option("--format", "fmt", required=True, help=f"One of: {', '.join(FORMATS)}.")
@click.option("--input", "input_", type=str, default=None, help="Raw file or folder (not for synthetic).")
@click.option("--out", required=True, type=str, help="Data folder to write (replaced when complete).")
@click.option("--rows", type=int, default=None, help="Synthetic: rows to generate (default 100000); others: first N rows.")
@click.option("--seed", type=int, default=2021, show_default=True, help="Split (and synthetic data) seed.")
@click.option("--min-count", type=int, default=2, show_default=True, help="Categorical values seen fewer times share the OOV id.")
@click.option("--pretrain-size", type=int, default=None,
              help="Rows of D_S drawn from train (default: 2000, or half the training rows when fewer than 4,000).")
@click.option("--label", type=str, default=None, help="csv/parquet: the label column (default label or click).")
@click.option("--categorical", type=str, default=None, help="csv/parquet: comma-separated categorical columns.")
@click.option("--numeric", type=str, default=None, help="csv/parquet: comma-separated numeric columns (bucketed).")
@click.option("--drop", type=str, default=None, help="csv/parquet: comma-separated columns that are not fields (row ids).")
@click.option("--delimiter", type=str, default=None,
              help="csv: the column delimiter (one character, or tab); default: detected from the header.")
@click.option("--label-map", type=str, default=None,
              help="Raw label values to 0/1, e.g. yes=1,no=0 (csv, parquet, criteo, avazu).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(fmt: str, input_: str | None, out: str, rows: int | None, seed: int, min_count: int, pretrain_size: int | None,
            label: str | None, categorical: str | None, numeric: str | None, drop: str | None, delimiter: str | None,
            label_map: str | None, quiet: bool, as_json: bool) -> None:
    """Parse a raw data set, build vocabularies and encode it to a data folder."""
    from lightfmp.data.prepare import prepare

    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "synthetic" and input_ is not None:
        raise InputError("--input: the synthetic format is generated; give --rows N instead")
    from lightfmp.runs.outputs import check_out_folder

    check_out_folder(out, "data", protect=(input_,))  # before any work: nothing of the user's is replaced
    t0 = time.perf_counter()
    data = prepare(fmt, input_, out, rows=rows, seed=seed, min_count=min_count, pretrain_size=pretrain_size,
                   label=label, categorical=column_names(categorical), numeric=column_names(numeric),
                   drop=column_names(drop), delimiter=delimiter, label_map=label_map, progress=not quiet)
    seconds = time.perf_counter() - t0
    s = data.schema
    summary = data.summary
    total = sum(summary["rows"].values())
    result = {
        "out": str(data.dir),
        "dataset": s.dataset,
        "label": s.label,
        "rows": summary["rows"],
        "pretrain_rows": summary["pretrain_rows"],
        "positive_rate": summary["positive_rate"],
        "fields": [{"name": f.name, "kind": f.kind, "vocab_size": f.vocab_size} for f in s.fields],
        "seconds": round(seconds, 3),
        "rows_per_second": round(total / seconds) if seconds > 0 else None,
    }
    if data.truth is not None:
        result["truth"] = {k: data.truth[k] for k in ("informative", "interaction", "noise")}
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    r = summary["rows"]
    click.echo(f"prepared {s.dataset} -> {data.dir}  ({total:,} rows in {seconds:.1f} s, {result['rows_per_second']:,} rows/s)")
    click.echo(f"  splits: train {r['train']:,} / valid {r['valid']:,} / test {r['test']:,};  D_S {summary['pretrain_rows']:,} rows")
    pr = summary["positive_rate"]
    click.echo(f"  positive rate: train {pr['train']:.4f} / valid {pr['valid'] or 0:.4f} / test {pr['test'] or 0:.4f}")
    click.echo(f"  {s.num_fields} fields (label {s.label!r}); vocabulary sizes incl. OOV and missing ids:")
    cells = [f"{f.name}={f.vocab_size}" + ("#" if f.kind == "numeric" else "") for f in s.fields]
    for i in range(0, len(cells), 8):
        click.echo("    " + "  ".join(cells[i:i + 8]))
    click.echo("  (# = numeric, bucketed)")
    if data.truth is not None:
        t = data.truth
        click.echo(f"  planted truth: informative {', '.join(t['informative'])}; "
                   f"interaction-only {' x '.join(t['interaction'][0])}; {len(t['noise'])} noise fields")
