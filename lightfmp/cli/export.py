"""`lightfmp export`: write a serving bundle of a run (the compact model as ONNX or a torch.export
program, with the encoder: schema and vocabulary), for scoring raw rows outside lightfmp.

The layout and the export check are in ``lightfmp.export.bundle``. ``--out`` may be new, empty or a
bundle lightfmp wrote (``lightfmp.runs.outputs``), never the run folder itself.
"""
from __future__ import annotations

import json

import click


@click.command("export")
@click.option("--run", "run_dir", type=click.Path(), required=True, help="Run folder (from train/prune/select).")
@click.option("--to", "to", type=click.Choice(["onnx", "torch-export"]), default="onnx", show_default=True,
              help="Graph format: ONNX (for ONNX Runtime and other runtimes) or a torch.export program (.pt2).")
@click.option("--out", type=click.Path(), required=True,
              help="Bundle folder to write (new, empty, or a bundle lightfmp wrote; replaced on success).")
@click.option("--json", "as_json", is_flag=True, help="Print the bundle's manifest as JSON on stdout.")
def command(run_dir: str, to: str, out: str, as_json: bool) -> None:
    """Write a serving bundle: the compact model (ONNX or torch.export) and its encoder."""
    from lightfmp.export import export_run

    manifest = export_run(run_dir, out, to)
    if as_json:
        click.echo(json.dumps(manifest, indent=1))
        return
    check = manifest["check"]
    click.echo(f"wrote {out}: {manifest['model_file']} ({to}), {len(manifest['input']['columns'])} fields; "
               f"max logit difference from the run's model {check['max_abs_logit_difference']:.2g} "
               f"on {check['rows']} rows", err=True)
