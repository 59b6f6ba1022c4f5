"""`lightfmp predict`: score a raw file with a saved run, reading only the run's kept fields.

The raw file is parsed in the run's data format (recorded in its schema's protocol) and encoded with
the run's stored vocabularies (unseen values -> OOV id), exactly as at preparation time. The output
CSV has one column `probability`, one row per input row, in input order; with labels in the file the
test AUC and logloss are printed (to stderr, so that stdout can carry the scores when no --out).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from lightfmp.errors import InputError


@click.command("predict")
@click.option("--run", "run_dir", type=click.Path(), required=True, help="Run folder (from train/prune/select).")
@click.option("--input", "input_path", type=click.Path(), required=True, help="Raw file in the run's format.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="CSV of probabilities (default: stdout).")
@click.option("--batch-size", type=click.IntRange(min=1), default=65536, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print rows/AUC/logloss/seconds as JSON (stderr).")
def command(run_dir: str, input_path: str, out: str | None, batch_size: int, device: str, as_json: bool) -> None:
    """Score a raw file with a saved run (only the kept fields are read)."""
    from lightfmp.cli.common import resolve_device
    from lightfmp.data.dataset import PreparedData
    from lightfmp.metrics import auc, logloss, sigmoid
    from lightfmp.runs import load_run
    from lightfmp.train import predict_logits

    device = resolve_device(device)
    if not Path(input_path).exists():
        raise InputError("no such file (expected a raw data file of the run's format)", path=input_path)
    run = load_run(run_dir)
    # The run folder holds schema.json and vocab.parquet like a prepared folder, for its kept fields.
    X, y = PreparedData(run.dir, run.schema).encode_raw(input_path, fields=run.schema.names)
    model = run.model.to(device)
    if device == "cpu":
        from lightfmp.train.allocator import reuse_freed_memory

        reuse_freed_memory()  # batches of 65,536 rows: reuse their activations' memory (see the module)
    logits, seconds = predict_logits(model, X, batch_size=batch_size, device=device)
    probs = sigmoid(logits)
    lines = "probability\n" + "\n".join(np.char.mod("%.6f", probs)) + "\n"
    if out is None:
        sys.stdout.write(lines)
    else:
        tmp = Path(out).with_name(f".{Path(out).name}.tmp")
        tmp.write_text(lines)
        tmp.replace(out)
    info = {"rows": int(len(probs)), "seconds": seconds, "auc": None, "logloss": None}
    if y is not None:
        info["auc"], info["logloss"] = auc(y, probs), logloss(y, probs)
    if as_json:
        click.echo(json.dumps(info), err=True)
        return
    msg = f"scored {info['rows']:,} rows in {seconds:.3f} s"
    if y is not None:
        msg += f"; AUC {info['auc']:.4f}, logloss {info['logloss']:.4f}"
    click.echo(msg + (f"; wrote {out}" if out else ""), err=True)
