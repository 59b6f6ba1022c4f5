"""`lightfmp train`: the No Selection baseline (method "none"), a backbone trained on all fields.

Steps (`lightfmp.experiment.run("none", ...)`): seed, build the backbone, `fit` on the full train split
with early stopping on validation AUC, score the test split, write the run folder, print the summary.
pretrain_seconds is 0 and continued_seconds is the whole `fit` (validation included), so the "none"
row of a report table compares with Light-FMP's pretrain + continued time.

Long runs and torchrun: as every verb, through `lightfmp.experiment.run` (a checkpoint per epoch,
`--resume`; rank 0 scores the test split and writes the folder, whose report lists every rank's digest).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lightfmp.cli import common
from lightfmp.sparse.config import SparseConfig


def default_out(model: str, dataset: str, seed: int, method: str = "none") -> str:
    return str(Path("runs") / f"{method}-{model}-{dataset}-seed{seed}")


@click.command("train")
@common.training_options
@common.config_options({"sparse": SparseConfig})
@common.resume_option
def command(resume: bool, **kwargs: Any) -> None:
    """No Selection baseline: train a backbone on all fields (dense, or sparse at a fixed density with --sparse),
    test it, write a run folder."""
    args = common.CommonArgs.from_kwargs(kwargs, configs={"sparse": SparseConfig})
    sparse = args.configs["sparse"]
    name = "none" if sparse.method is None else f"{sparse.method}-d{sparse.density:g}"
    common.run_verb(args, "none", lambda data: default_out(args.model, data.schema.dataset, args.seed, name),
                    resume=resume, sparse=sparse if sparse.method is not None else None)
