"""`lightfmp train`: the No Selection baseline (method "none"), a backbone trained on all fields.

Steps: open the data, seed, build the backbone, `fit` on the full train split with early stopping on
validation AUC, score the test split, write the run folder (report.json etc.), print the summary.
pretrain_seconds is 0 and continued_seconds is the whole `fit` (validation included), so the "none"
row of a report table compares with Light-FMP's pretrain + continued time.

Long runs: a checkpoint is written into the run folder after every epoch (`checkpoint.pt`, removed
when the finished run folder replaces it); `--resume` continues from it. Under torchrun every rank
trains its shard (see `lightfmp.train.distributed`); rank 0 scores the test split and writes the run
folder, whose report also lists every rank's weight digest (equal digests: the ranks ended identical).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lightfmp.cli import common


def default_out(model: str, dataset: str, seed: int) -> str:
    return str(Path("runs") / f"none-{model}-{dataset}-seed{seed}")


@click.command("train")
@common.training_options
@common.resume_option
def command(resume: bool, **kwargs: Any) -> None:
    """No Selection baseline: train a backbone on all fields, test it, write a run folder."""
    from lightfmp.models import build_model
    from lightfmp.runs import count_params, make_report, write_run
    from lightfmp.train import distributed, evaluate, fit, seed_everything
    from lightfmp.train.checkpoint import load_checkpoint, save_checkpoint

    args = common.CommonArgs.from_kwargs(kwargs)
    mcfg, tcfg = common.model_config(args), common.train_config(args)  # bad options fail before data work
    common.check_run_out(args.out, args)  # before any work: nothing of the user's is replaced
    info = common.start_distributed(args)
    data = common.open_prepared(args)
    schema = data.schema
    out = args.out or default_out(args.model, schema.dataset, args.seed)
    if args.out is None:
        common.check_run_out(out, args)
    ckpt_path = common.checkpoint_path(out)
    tcfg = common.train_config(args, rows=len(data.split("train")[1]))  # the batch size chosen, if automatic
    identity = {"method": "none", "model": args.model, "model_config": mcfg.to_dict(),
                "train_config": tcfg.to_dict(), "dataset": schema.dataset, "fields": list(schema.names),
                "vocab_sizes": list(schema.vocab_sizes), "world_size": info.world}
    state = load_checkpoint(ckpt_path, identity)["trainer"] if resume else None

    seed_everything(args.seed)
    model = build_model(args.model, schema.vocab_sizes, mcfg)
    params = count_params(model)
    train, valid = data.split("train"), data.split("valid")

    def save_epoch(s: dict[str, Any]) -> None:
        if info.is_main:
            save_checkpoint(ckpt_path, identity, "training", trainer=s)

    with common.diverged_keeps_checkpoint(ckpt_path):
        res = fit(model, train, valid, tcfg, progress=args.progress and info.is_main, phase="training",
                  resume=state, on_epoch_end=save_epoch, log_epochs=args.log_epochs)
    digests = distributed.all_digests(model)
    if not info.is_main:
        return
    test = evaluate(model, *data.split("test"), batch_size=tcfg.eval_batch_size, device=tcfg.device)
    report = make_report(
        method="none", model=args.model, schema=schema, kept=list(range(schema.num_fields)), seed=args.seed,
        auc=test.auc, logloss=test.logloss, val_auc=res.best_val_auc, train_rows=len(train[1]),
        params_before=params, params_after=params, pretrain_seconds=0.0, continued_seconds=res.total_seconds,
        train_samples_per_second=res.samples_per_second, inference_seconds=test.seconds,
        inference_samples_per_second=test.samples_per_second, prune_ratio=0.0,
        extra={"best_epoch": res.best_epoch, "epochs_run": res.epochs_run, "train_seconds": res.train_seconds,
               "eval_seconds": res.eval_seconds, "device": tcfg.device, "step_mode": res.step_mode,
               "batch_size": res.batch_size,
               "history": res.history,
               "resumed": bool(resume),
               "distributed": {"world_size": info.world, "backend": info.backend, "rank_state_sha1": digests}},
    )
    config = {"method": "none", "model": args.model, "model_config": mcfg.to_dict(),
              "train_config": tcfg.to_dict(), "data": {"dir": str(data.dir), "dataset": schema.dataset}}
    write_run(out, report, model.cpu(), schema, data.dir, config)
    common.emit_report(report, args, out_dir=out)
