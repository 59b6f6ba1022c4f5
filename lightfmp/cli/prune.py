"""`lightfmp prune`: Light-FMP (pretrain the mask on D_S, prune fields and model, continue training).

Checkpoints (`checkpoint.pt` in the run folder) are written after pruning and after every epoch of
continued training; `--resume` continues from the last one with the same kept fields. Under torchrun
the kept fields are decided once and broadcast (`lightfmp.experiment.run`); rank 0 writes the run folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lightfmp.cli import common

HEATMAP = "mask_heatmap.png"
SWEEP_RATIOS = (0.0, 0.25, 0.5, 0.75)


def default_out(model: str, prune_ratio: float, seed: int, budget: str | None = None) -> str:
    size = f"keep{budget.replace('=', '')}" if budget else f"tau{prune_ratio:g}"
    return str(Path("runs") / f"lightfmp-{model}-{size}-seed{seed}")


@click.command("prune")
@common.training_options
@common.resume_option
@click.option("--prune-ratio", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.5, show_default=True,
              help="tau: fraction of fields removed (round(tau * m) fields).")
@click.option("--pretrain-size", type=click.IntRange(min=1), default=None,
              help="Rows of the pretraining subset D_S (default: 2000, or the D_S the data holds when smaller: "
                   "half the training rows below 4,000).")
@click.option("--init", "init", type=click.Choice(["pretrained", "scratch"]), default="pretrained",
              show_default=True, help="Compact model from the pretrained weights, or freshly initialised (ablation).")
@click.option("--pretrain-max-steps", type=click.IntRange(min=1), default=None,
              help="Step budget of pretraining (default: PretrainConfig's).")
@click.option("--rare-min-count", type=click.IntRange(min=1), default=None,
              help="Pretraining's memorisation guard: values seen fewer than N times in D_S are read as OOV "
                   "there (1 turns it off; default: PretrainConfig's 5). A lower N lets the mask judge an "
                   "ID-like field whose many rare values carry the signal (README: what the mask does not see).")
@click.option("--keep-fields", default="", metavar="F1,F2,...",
              help="Fields kept whatever the mask says (e.g. a pair that matters only jointly); the other kept "
                   "slots go to the best-scored fields, so round(tau * m) fields are still pruned.")
@click.option("--keep", "budget", default=None, metavar="params=SHARE|flops=SHARE",
              help="Prune inside the model too: field gates, MLP hidden units and CIN maps learned jointly on D_S under "
                   "one budget, the share of No Selection's parameters or multiply-adds per sample kept (e.g. "
                   "flops=0.1); the number of fields is then learned and --prune-ratio is not used. Default: fields "
                   "only, as the paper.")
@click.option("--plot", is_flag=True,
              help=f"Also pretrain at tau = {', '.join(f'{r:g}' for r in SWEEP_RATIOS)} and draw {HEATMAP} "
                   "(paper Figure 3) into the run folder; it marks the mask's own choice, without --keep-fields.")
def command(prune_ratio: float, pretrain_size: int | None, init: str, pretrain_max_steps: int | None,
            rare_min_count: int | None, keep_fields: str, budget: str | None, plot: bool, resume: bool,
            **kwargs: Any) -> None:
    """Light-FMP: pretrain the mask on D_S, prune fields and model, continue training."""
    from dataclasses import replace

    from lightfmp.pruning.pretrain import PretrainConfig

    from lightfmp.knobs import with_overrides

    args = common.CommonArgs.from_kwargs(kwargs, extra_sections=("pretrain",))
    pcfg = with_overrides(PretrainConfig(), args.extra["pretrain"], "pretrain")  # --set pretrain.NAME=VALUE
    if pretrain_max_steps is not None:
        pcfg = replace(pcfg, max_steps=pretrain_max_steps, min_steps=min(pcfg.min_steps, pretrain_max_steps))
    if rare_min_count is not None:
        pcfg = replace(pcfg, rare_min_count=rare_min_count)
    if budget is not None:
        from lightfmp.pruning.structure import parse_budget

        parse_budget(budget)  # a bad budget is one line before any work
        pcfg = replace(pcfg, budget=budget)
    out = args.out or default_out(args.model, prune_ratio, args.seed, budget)
    done = common.run_verb(args, "lightfmp", lambda data: out, pretrain_size=pretrain_size, prune_ratio=prune_ratio,
                           pretrain_cfg=pcfg, init=init, resume=resume,
                           keep_fields=[f.strip() for f in keep_fields.split(",") if f.strip()])
    if done is not None:  # rank 0
        data, est = done[0], done[1].estimator
        if plot:
            _plot(data, est, Path(out) / HEATMAP)
        _note_unseen(est)


def _plot(data: Any, est: Any, path: Path) -> None:
    """The mask heatmap (paper Figure 3): pretraining again at each of SWEEP_RATIOS."""
    from lightfmp.plots import plot_mask_heatmap
    from lightfmp.pruning.lightfmp import mask_sweep

    sweep = mask_sweep(data, est.model, SWEEP_RATIOS, est.model_config, est.pretrain_config, est.pretrain_size,
                       est.seed, est.train_config.device)
    plot_mask_heatmap(data.schema.names, [r for r, _, _ in sweep], [s for _, s, _ in sweep],
                      [k for _, _, k in sweep], path, title=f"Light-FMP mask, {est.model} on {data.schema.dataset}")


def _note_unseen(est: Any) -> None:
    """One note per pruned field the mask could hardly judge (mostly unknown values inside D_S)."""
    guard = est.pretrain_config.rare_min_count
    # lowering the guard is a remedy only while there is a guard to lower (1 is off)
    lower = f"--rare-min-count {min(3, guard - 1)} shows the mask more of it, " if guard > 1 else ""
    for name, share in est.unseen_pruned_fields():
        why = f"unseen, or seen < {guard} times in D_S" if guard > 1 else "unseen in the vocabulary"
        click.echo(f"note: {name} was pruned, but pretraining read {share:.0%} of its D_S rows as unknown values "
                   f"({why}), so the mask could hardly judge it; {lower}--keep-fields {name} keeps it", err=True)
