"""`lightfmp topk`: a top-K recommender trained on implicit feedback, dense or at a fixed density (DSL), through
the pipeline (`lightfmp.experiment.run` on a top-K data set): model selection on validation Recall@20, test
Recall@20 / NDCG@20 (NeuMF: HR / NDCG@20 over its 100 negatives), a run folder.

The training options are TrainConfig's (`--epochs`, `--lr`, `--batch-size` (default: the model's paper value),
`--patience`, `--seed`, `--device`), the sparse ones SparseConfig's, as `train` reads them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lightfmp.cli import common
from lightfmp.sparse.config import SparseConfig
from lightfmp.train.config import TrainConfig

MODELS = ("lightgcn", "bpr-mf", "multvae", "neumf")  # `lightfmp.topk.TOPK_MODELS`, torch-free for the CLI
DATASETS = ("gowalla", "movielens_100k")


@click.command("topk")
@click.option("--dataset", type=click.Choice(DATASETS), required=True, help="Which implicit-feedback set.")
@click.option("--input", "folder", type=click.Path(file_okay=False), required=True,
              help="Its folder, e.g. ../shared/data/gowalla (the LightGCN split) or ../shared/data/movielens_100k.")
@click.option("--model", type=click.Choice(MODELS), default="lightgcn", show_default=True,
              help="Backbone; its protocol follows DSL: split (lightgcn, bpr-mf), strong generalisation (multvae), "
                   "leave-one-out with 100 negatives (neumf).")
@common.config_options({"train": TrainConfig, "sparse": SparseConfig})
@click.option("--out", type=click.Path(), default=None, help="Run folder to write (replaced on success).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads (one is fastest for these sparse-graph steps on a loaded 2-core CPU).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bars or epoch lines.")
def command(dataset: str, folder: str, model: str, out: str | None, threads: int, as_json: bool, quiet: bool,
            **kwargs: Any) -> None:
    """Top-K recommendation from implicit feedback, dense or sparse."""
    import sys

    import torch

    from lightfmp.experiment import run
    from lightfmp.runs.outputs import check_out_folder
    from lightfmp.topk.open import open_topk

    cfgs = common.sections_from_kwargs(kwargs, {"train": TrainConfig, "sparse": SparseConfig})
    tcfg, sparse = cfgs["train"], cfgs["sparse"]
    tcfg = type(tcfg)(**{**tcfg.to_dict(), "device": common.resolve_device(tcfg.device)})
    name = "dense" if sparse.method is None else f"{sparse.method}-d{sparse.density:g}"
    out = out or str(Path("runs") / f"topk-{model}-{dataset}-{name}-seed{tcfg.seed}")
    check_out_folder(out, "run", protect=(folder,))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:  # restored: a program that embeds the CLI (`lightfmp.cli.exit_status`) keeps its own setting
        data = open_topk(dataset, folder, model)
        progress = not quiet and not as_json and sys.stderr.isatty()
        result = run("none", data, model_name=model, train_cfg=tcfg, sparse=sparse if sparse.method else None,
                     out=out, progress=progress, log_epochs=not quiet and not as_json and not sys.stderr.isatty())
    finally:
        torch.set_num_threads(before)
    report = result.report()
    if as_json:
        import json

        click.echo(json.dumps({k: v for k, v in report.items() if k != "history"}, indent=1, default=str))
        return
    keys = ("task", "model", "dataset", "protocol", "seed", *result.metrics, f"val_{report['select_on']}",
            "best_epoch", "params_before", "params_after", "total_seconds")
    width = max(len(k) for k in keys)
    for k in keys:
        v = report.get(k)
        click.echo(f"{k.ljust(width)}  {v:.4f}" if isinstance(v, float) else f"{k.ljust(width)}  {v}")
    if "sparse" in report:
        click.echo(f"{'density'.ljust(width)}  {report['sparse']['nonzero_density']:.4f} ({sparse.method})")
    click.echo(f"run folder: {out}")
