"""`lightfmp demo`: the README's main job. No Selection beside Light-FMP on the embedded synthetic data.

Prepares the synthetic Criteo-shaped set (39 fields with planted informative fields; cached by
``open_data`` under $LIGHTFMP_CACHE or ~/.cache/lightfmp), trains the DNN backbone on all fields (No Selection) and with Light-FMP at tau = 0.5,
writes both run folders under ./runs/demo and prints one table: AUC, logloss, TT (PT + CT), IT,
parameters, and which planted fields Light-FMP kept. The default size keeps it near 1-2 minutes on
a 2-core CPU.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lightfmp.cli import common

DEFAULT_ROWS = 100_000


def _table(rows: list[dict[str, Any]]) -> str:
    head = ["method", "fields", "AUC", "logloss", "TT s", "PT s", "IT s", "params"]
    body = [[r["method"], f"{len(r['fields_kept'])}/{r['fields_total']}", f"{r['auc']:.4f}", f"{r['logloss']:.4f}",
             f"{r['total_seconds']:.1f}", f"{r['pretrain_seconds']:.1f}", f"{r['inference_seconds']:.3f}",
             f"{r['params_after']:,}"] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


@click.command("demo")
@click.option("--rows", type=click.IntRange(min=5000), default=DEFAULT_ROWS, show_default=True,
              help="Synthetic rows to generate.")
@click.option("--model", type=click.Choice(common.MODEL_NAMES), default="dnn", show_default=True)
@click.option("--prune-ratio", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.5, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--hidden", type=str, default="400,400,200", show_default=True, help="MLP hidden sizes.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Training batch (default: chosen from the training rows, as `train` does).")
@click.option("--out", type=click.Path(file_okay=False), default=str(Path("runs") / "demo"), show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def command(rows: int, model: str, prune_ratio: float, epochs: int, hidden: str, seed: int,
            batch_size: int | None, out: str, quiet: bool) -> None:
    """Run Light-FMP end to end on the embedded synthetic data set and print the table."""
    import sys

    from lightfmp.data.open import open_data
    from lightfmp.experiment import run
    from lightfmp.models.config import ModelConfig, parse_hidden
    from lightfmp.train import TrainConfig

    check_demo_out(Path(out))
    progress = not quiet and sys.stderr.isatty()
    click.echo(f"preparing {rows:,} synthetic rows (39 fields, planted truth) ...", err=True)
    data = open_data(fmt="synthetic", rows=rows, progress=progress)
    mcfg = ModelConfig(hidden=parse_hidden(hidden))
    tcfg = TrainConfig(epochs=epochs, seed=seed, batch_size=batch_size)
    if batch_size is None and not quiet:
        click.echo(tcfg.batch_note(len(data.split("train")[1])), err=True)
    kw = dict(data=data, model_name=model, model_cfg=mcfg, train_cfg=tcfg, progress=progress)

    click.echo(f"No Selection: {model} on all {data.schema.num_fields} fields ...", err=True)
    base = run("none", **kw, out=Path(out) / "no_selection").report()
    click.echo(f"Light-FMP: pretrain the mask on D_S, prune tau={prune_ratio:g}, continue training ...", err=True)
    rep = run("lightfmp", **kw, prune_ratio=prune_ratio, out=Path(out) / "lightfmp").report()

    click.echo(_table([base | {"method": "No Selection"}, rep | {"method": "Light-FMP"}]))
    truth = data.truth or {}
    planted = truth.get("informative", [])
    if planted:
        kept = [f for f in planted if f in set(rep["fields_kept"])]
        click.echo(f"planted informative fields kept by Light-FMP: {len(kept)}/{len(planted)} ({', '.join(kept)})")
    for pair in truth.get("interaction", []):
        # Said on purpose: a field that matters only jointly with another is hard for one gate per field
        # to see on 2,000 rows (docs/decisions.md#fields-kept-whatever-the-mask-says), and users should know.
        kept = [f for f in pair if f in set(rep["fields_kept"])]
        hint = "" if len(kept) == len(pair) else f" (`lightfmp prune --keep-fields {','.join(pair)}` keeps it)"
        click.echo(f"interaction-only pair ({', '.join(pair)}; no main effect, only their XOR matters) kept: "
                   f"{len(kept)}/{len(pair)}{hint}")
    click.echo(f"TT ratio {rep['total_seconds'] / max(base['total_seconds'], 1e-9):.2f}, "
               f"IT ratio {rep['inference_seconds'] / max(base['inference_seconds'], 1e-9):.2f}, "
               f"params ratio {rep['params_after'] / base['params_after']:.2f}; runs in {out}/")


DEMO_RUNS = ("no_selection", "lightfmp")


def check_demo_out(out: Path) -> None:
    """--out holds the demo's two run folders: new, empty, or an earlier demo's (replaced), nothing else."""
    from lightfmp.errors import InputError
    from lightfmp.runs.outputs import check_out_folder

    if out.exists() and not out.is_dir():
        raise InputError("--out: exists and is a file; expected a folder for the demo's two run folders", path=out)
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in DEMO_RUNS)
        if others:
            raise InputError(f"--out: the folder holds files the demo did not write (e.g. {others[0]!r}); refusing to "
                             "write into it; name a new or empty folder", path=out)
    for name in DEMO_RUNS:
        check_out_folder(out / name, "run")
