"""`lightfmp select`: a baseline feature selector, then retraining on the kept fields (`lightfmp.experiment`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lightfmp.cli import common
from lightfmp.selection import BASELINES


@click.command("select")
@common.training_options
@click.option("--method", type=click.Choice(BASELINES), required=True, help="The baseline selector.")
@click.option("--prune-ratio", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.5, show_default=True,
              help="tau: fraction of fields removed (m - round(tau * m) kept).")
@click.option("--search-epochs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Passes over the training split in a deep method's search phase.")
def command(method: str, prune_ratio: float, search_epochs: int, **kwargs: Any) -> None:
    """A baseline feature selector, then retraining on the kept fields."""
    from lightfmp.experiment import run_method

    args = common.CommonArgs.from_kwargs(kwargs)
    common.check_run_out(args.out, args)  # before any work: nothing of the user's is replaced
    data = common.open_prepared(args)
    out = args.out or str(Path("runs") / f"{method}-{args.model}-tau{prune_ratio:g}-seed{args.seed}")
    if args.out is None:
        common.check_run_out(out, args)
    report = run_method(method, data, model_name=args.model, model_cfg=common.model_config(args),
                        train_cfg=common.train_config(args, rows=len(data.split("train")[1])), prune_ratio=prune_ratio,
                        search_epochs=search_epochs, out=out, progress=args.progress, log_epochs=args.log_epochs)
    common.emit_report(report, args, out_dir=out)
