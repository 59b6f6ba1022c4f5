"""`lightfmp predict`: score a raw file with a saved run, reading only the run's kept fields.

The raw file is parsed in the run's data format (recorded in its schema's protocol) and encoded with
the run's stored vocabularies (unseen values -> OOV id), exactly as at preparation time. The output
CSV has one column `probability` (after the `--id-column` values, when asked), one row per input row,
in input order; with labels in the file the test AUC and logloss are printed (to stderr, so that
stdout can carry the scores when no --out). A blank or absent label column is fine: no metrics then.
`--out` must be a new file or one `predict` wrote, in an existing folder (`lightfmp.runs.outputs`).
Python: ``Run.load(run_dir).predict(path_or_table)``.

Engines (``lightfmp.export.engines``): `--engine torch` is eager PyTorch (the default for a run);
`--engine onnxruntime` traces the run's model to ONNX first (a few seconds), or uses the model of an
ONNX bundle. `--run` may also be a bundle from `lightfmp export`; its own engine is the default.
`--int8` quantises the Linear layers dynamically (``lightfmp.export.int8``) and also scores in fp32
with the same engine, so the AUC change int8 costs is printed beside the AUC, when labels are there.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from lightfmp.errors import InputError


@click.command("predict")
@click.option("--run", "run_dir", type=click.Path(), required=True,
              help="Run folder (from train/prune/select), or a bundle folder from `lightfmp export`.")
@click.option("--input", "input_path", type=click.Path(), required=True, help="Raw file in the run's format.")
@click.option("--out", type=click.Path(), default=None,
              help="CSV of probabilities (default: stdout); a new file, or one predict wrote, in an existing folder.")
@click.option("--id-column", default=None, metavar="COL",
              help="Copy this column of the input (e.g. a row id) into the output, before the probability.")
@click.option("--batch-size", type=click.IntRange(min=1), default=65536, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--engine", type=click.Choice(["torch", "onnxruntime"]), default=None,
              help="Scoring engine  [default: torch; for a bundle, its own: onnxruntime or torch.export]")
@click.option("--int8", is_flag=True, help="Dynamic int8 quantisation of the Linear layers; prints the AUC change.")
@click.option("--json", "as_json", is_flag=True, help="Print rows/AUC/logloss/seconds as JSON (stderr).")
def command(run_dir: str, input_path: str, out: str | None, id_column: str | None, batch_size: int, device: str,
            engine: str | None, int8: bool, as_json: bool) -> None:
    """Score a raw file with a saved run (only the kept fields are read)."""
    from lightfmp.cli.common import resolve_device
    from lightfmp.metrics import auc, logloss, sigmoid
    from lightfmp.runs import load_run
    from lightfmp.runs.outputs import check_out_file
    from lightfmp.train import predict_logits

    device = resolve_device(device)
    if not Path(input_path).exists():
        raise InputError("no such file (expected a raw data file of the run's format)", path=input_path)
    if out is not None:
        check_out_file(out, protect=(input_path,))
    from lightfmp.export import Bundle, is_bundle
    from lightfmp.export.engines import score

    bundle = Bundle.load(run_dir) if is_bundle(run_dir) else None
    if (engine == "onnxruntime" or int8 or bundle is not None) and device != "cpu":
        raise InputError("--device cuda: --engine onnxruntime, --int8 and bundles score on the CPU; drop --device")
    run = bundle if bundle is not None else load_run(run_dir)
    X, y, ids = run.encode(input_path, id_column=id_column)
    reference = None
    if bundle is None and engine in (None, "torch") and not int8:
        model = run.model.to(device)
        if device == "cpu":
            from lightfmp.train.allocator import reuse_freed_memory

            reuse_freed_memory()  # batches of 65,536 rows: reuse their activations' memory (see the module)
        logits, seconds = predict_logits(model, X, batch_size=batch_size, device=device)
        used = "torch"
    else:
        scorer, reference = _engines(run, bundle, engine, int8)
        logits, seconds = score(scorer, X, batch_size)
        used = scorer.name
    probs = sigmoid(logits)
    _write_probabilities(probs, ids, id_column, out)
    info = {"rows": int(len(probs)), "seconds": seconds, "auc": None, "logloss": None, "engine": used,
            "int8": int8}
    if y is not None:
        info["auc"], info["logloss"] = auc(y, probs), logloss(y, probs)
    if reference is not None and y is not None:
        info["auc_fp32"] = auc(y, sigmoid(score(reference, X, batch_size)[0]))
        info["auc_change"] = info["auc"] - info["auc_fp32"]
    if as_json:
        click.echo(json.dumps(info), err=True)
        return
    click.echo(_summary(info, used, int8, y is not None) + (f"; wrote {out}" if out else ""), err=True)


def _write_probabilities(probs: np.ndarray, ids: Any, id_column: str | None, out: str | None) -> None:
    """The CSV (id column first when asked), to stdout or atomically to ``out``."""
    cells = np.char.mod("%.6f", probs)
    header = "probability"
    if ids is not None:
        cells = np.char.add(np.char.add(_csv_cells(ids), ","), cells)
        header = f"{_csv_cells([id_column])[0]},{header}"
    lines = header + "\n" + "\n".join(cells) + "\n"
    if out is None:
        sys.stdout.write(lines)
        return
    tmp = Path(out).with_name(f".{Path(out).name}.tmp")
    try:
        tmp.write_text(lines, encoding="utf-8")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)


def _summary(info: dict[str, Any], used: str, int8: bool, labelled: bool) -> str:
    """The one stderr line: rows, time, engine, and the AUC (with int8's change) where labels exist."""
    msg = f"scored {info['rows']:,} rows in {info['seconds']:.3f} s"
    if used != "torch" or int8:
        msg += f" ({used}{', int8' if int8 else ''})"
    if labelled:
        msg += f"; AUC {info['auc']:.4f}"
        if "auc_change" in info:
            msg += f" (fp32 {info['auc_fp32']:.4f}, int8 change {info['auc_change']:+.4f})"
        msg += f", logloss {info['logloss']:.4f}"
    elif int8:
        msg += "; no labels, so the AUC change of int8 is not measured"
    return msg


def _engines(run, bundle, engine: str | None, int8: bool):
    """(scoring engine, its fp32 twin when int8) for a run (any engine) or a bundle (its own format)."""
    from lightfmp.export.engines import for_run

    if bundle is None:
        return for_run(run.model, engine or "torch", int8)
    own = "onnxruntime" if bundle.format == "onnx" else "torch"
    if engine is not None and engine != own:
        raise InputError(f"--engine {engine}: this bundle holds a {bundle.format} model, scored by --engine {own}; "
                         "export the run again with the other --to, or score the run folder", path=bundle.dir)
    if int8:
        return bundle.engine(int8=True), bundle.engine()
    return bundle.engine(), None


def _csv_cells(values) -> np.ndarray:
    """Values as CSV cells: quoted (with quotes doubled) only where a delimiter, quote or newline needs it."""
    text = np.asarray([("" if v is None else str(v)) for v in values], dtype=object).astype(str)
    special = (np.char.find(text, ",") >= 0) | (np.char.find(text, '"') >= 0) | (np.char.find(text, "\n") >= 0) \
        | (np.char.find(text, "\r") >= 0)
    if special.any():
        quoted = np.char.add(np.char.add('"', np.char.replace(text, '"', '""')), '"')
        text = np.where(special, quoted, text)
    return text
