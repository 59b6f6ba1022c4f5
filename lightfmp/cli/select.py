"""`lightfmp select`: a baseline feature selector, then retraining on the kept fields (`lightfmp.experiment.run`:
a checkpoint after the search and per retraining epoch, `--resume`, torchrun as `train` and `prune`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lightfmp.cli import common
from lightfmp.selection import BASELINES, SELECTORS


@click.command("select")
@common.training_options
@common.resume_option
@click.option("--method", type=click.Choice(BASELINES), required=True, help="The baseline selector.")
@click.option("--prune-ratio", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.5, show_default=True,
              help="tau: fraction of fields removed (m - round(tau * m) kept).")
@click.option("--search-epochs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Passes over the training split in a deep method's search phase.")
@click.option("--option", "hyper", multiple=True, metavar="NAME=VALUE",
              help="A hyper-parameter of the method (repeatable), e.g. --option alpha=0.01 for lasso; an unknown "
                   "name is refused with the method's list.")
def command(method: str, prune_ratio: float, search_epochs: int, hyper: tuple[str, ...], resume: bool,
            **kwargs: Any) -> None:
    """A baseline feature selector, then retraining on the kept fields."""
    args = common.CommonArgs.from_kwargs(kwargs)
    pairs = dict(h.partition("=")[::2] for h in hyper)
    if any("=" not in h for h in hyper):
        raise click.UsageError("--option: expected NAME=VALUE")
    options = SELECTORS[method].from_text(pairs).get_params() if pairs else {}
    out = str(Path("runs") / f"{method}-{args.model}-tau{prune_ratio:g}-seed{args.seed}")
    common.run_verb(args, method, lambda data: out, prune_ratio=prune_ratio, search_epochs=search_epochs,
                    options={k: options[k] for k in pairs}, resume=resume)
