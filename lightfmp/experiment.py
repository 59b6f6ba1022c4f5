"""The pipeline: one method, one data set and its configs -> a `RunResult` -> a run folder.

Every verb (`train`, `prune`, `select`), the demo and the bench scripts call `run`; it owns what
sits above the algorithms: the checkpoint (`RUN/checkpoint.pt`) and `resume`, the torchrun broadcasts
(the kept fields decided once on rank 0, rank 0's compact model copied to every rank), the test
scoring, the one report (`RunResult.report`) and the one config.json shape (`save`).

Methods: ``none`` (No Selection: the backbone on every field), ``lightfmp`` and ``lightfmp-scratch``
(Light-FMP with domain-adapted or fresh initialisation, Figure 2b), and every ``SELECTORS`` baseline.

Timing, the same for every method (paper Sec. 3.1, 4.1: "training time includes both feature
selection and retraining"), wall clock: PT (``pretrain_seconds``) the selection phase (a selector's
whole `fit`, Light-FMP's phases 1-2; 0 for ``none`` and the single-stage methods); CT
(``continued_seconds``) building the model to train, taking the kept columns and `fit`, validation
included (single-stage: the one joint training; a resumed run adds the interrupted run's); TT = PT + CT.
Retraining rows: the baselines retrain on the whole training split (the paper), Light-FMP continues on
D - D_S; ``train_rows="continued"`` trains No Selection on D - D_S too, the rows of Light-FMP's phase 3.

Checkpoints (phase): ``training`` (none, per epoch); ``pruned`` then ``continued`` (Light-FMP: kept
fields, pretraining's result, M_P, then per epoch); ``selected`` then ``retraining`` (two-stage and shallow
baselines: kept fields, scores, the model, then per epoch). A single-stage baseline's resume starts over.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from lightfmp import runs, train  # called as train.fit, runs.write_run: the seams the CLI tests patch
from lightfmp.models.config import ModelConfig
from lightfmp.pruning.lightfmp import LightFMP
from lightfmp.pruning.pretrain import PretrainResult
from lightfmp.pruning.steps import count_params
from lightfmp.selection import SELECTORS, SelectorConfig
from lightfmp.tasks import CTR, Task, task_of
from lightfmp.metrics import auc, logloss, sigmoid
from lightfmp.timing import throughput
from lightfmp.train import EvalResult, FitResult, TrainConfig, distributed, predict_logits
from lightfmp.train.checkpoint import load_checkpoint, save_checkpoint

METHODS = ("none", *[m for m in SELECTORS if m != "lightfmp"], "lightfmp", "lightfmp-scratch")


@dataclass
class RunResult:
    """One method's run: what the report, the run folder and the tables read, in one object."""

    method: str
    model_name: str
    schema: Any  # the full schema the method started from
    kept: list[int]
    model: nn.Module  # the final model (kept fields only)
    fit: FitResult
    train_rows: int
    params_before: int
    params_after: int
    config: dict[str, Any]  # config.json
    prune_ratio: float = 0.0
    pretrain_seconds: float = 0.0
    continued_seconds: float = 0.0
    pretrain_rows: int = 0
    mask: Any = None  # per-field scores (name -> score, or schema order), None without one
    extra: dict[str, Any] = field(default_factory=dict)  # method-specific report keys
    test: EvalResult | None = None
    test_scores: np.ndarray | None = None  # the test split's probabilities (rank 0)
    estimator: Any = None  # the fitted LightFMP or FieldSelector, where there is one

    task: str = "ctr"
    metrics: dict[str, float] = field(default_factory=dict)  # a ranked task's test metrics (CTR: in `test`)

    def report(self) -> dict[str, Any]:
        """report.json (`lightfmp.runs.make_report`, the keys of ../shared/docs/product.md; a top-K or
        next-item run: `lightfmp.runs.make_task_report`)."""
        if self.task != "ctr":
            return self._task_report()
        fr, test = self.fit, self.test
        extra = {"device": self.config["train_config"]["device"], "step_mode": fr.step_mode,
                 "batch_size": fr.batch_size, "best_epoch": fr.best_epoch, "epochs_run": fr.epochs_run,
                 "train_seconds": fr.train_seconds, "eval_seconds": fr.eval_seconds, **self.extra,
                 "history": fr.history}
        return runs.make_report(
            method=self.method, model=self.model_name, schema=self.schema, kept=self.kept,
            seed=self.config["seed"], auc=test.auc, logloss=test.logloss, val_auc=fr.best_val_auc,
            train_rows=self.train_rows, params_before=self.params_before, params_after=self.params_after,
            continued_seconds=self.continued_seconds, pretrain_seconds=self.pretrain_seconds,
            train_samples_per_second=fr.samples_per_second, inference_seconds=test.seconds,
            inference_samples_per_second=test.samples_per_second, pretrain_rows=self.pretrain_rows,
            prune_ratio=self.prune_ratio, mask=self.mask, extra=extra)


    def _task_report(self) -> dict[str, Any]:
        fr, cfg = self.fit, self.config
        return runs.make_task_report(
            task=self.task, method=self.method, model=self.model_name, dataset=cfg["data"]["dataset"],
            protocol=cfg["data"]["protocol"], seed=cfg["seed"], metrics=self.metrics, select_on=fr.select_on,
            val_metric=fr.best_metric, train_rows=self.train_rows, params_before=self.params_before,
            params_after=self.params_after, train_seconds=fr.train_seconds, total_seconds=self.continued_seconds,
            extra={"best_epoch": fr.best_epoch, "epochs_run": fr.epochs_run, **self.extra, "history": fr.history})


@dataclass
class _Ctx:
    """What every method runner needs: the data, the configs, the checkpoint and the trainer's hooks."""

    data: Any
    model_name: str
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    config: dict[str, Any]
    identity: dict[str, Any]
    checkpoint: Path | None
    resume: bool
    progress: bool
    log_epochs: bool

    def load(self) -> dict[str, Any] | None:
        return load_checkpoint(self.checkpoint, self.identity) if (self.resume and self.checkpoint) else None

    def save(self, phase: str, **payload: Any) -> None:
        if self.checkpoint is not None and distributed.current().is_main:
            save_checkpoint(self.checkpoint, self.identity, phase, **payload)

    def epoch_saver(self, phase: str, **payload: Any) -> Callable[[dict[str, Any]], None]:
        return lambda state: self.save(phase, **payload, model=state["model"], trainer=state)

    def fit(self, model: nn.Module, rows: Any, valid: Any, phase: str, resume: Any, on_epoch_end: Any,
            on_step: Any = None) -> FitResult:
        return train.fit(model, rows, valid, self.train_cfg, progress=self.progress and distributed.current().is_main,
                         phase=phase, resume=resume, on_epoch_end=on_epoch_end, log_epochs=self.log_epochs,
                         on_step=on_step)


def run(method: str, data: Any, *, model_name: str = "dnn", model_cfg: ModelConfig | None = None,
        train_cfg: TrainConfig | None = None, prune_ratio: float = 0.5, pretrain_size: int = 2000,
        pretrain_cfg: Any = None, init: str | None = None, keep_fields: Sequence[str] = (),
        search_epochs: int = 2, options: dict[str, Any] | None = None, train_rows: str = "train",
        out: str | Path | None = None, checkpoint: str | Path | None = None, resume: bool = False,
        progress: bool = False, log_epochs: bool = False, sparse: Any = None) -> RunResult:
    """Run ``method`` on ``data`` (a PreparedData); score the test split; write ``out`` if given (rank 0).

    ``train_rows``: the rows No Selection trains on, "train" (the whole training split) or "continued"
    (train minus D_S); the other methods take only "train". An automatic batch size (``train_cfg.batch_size``
    None) is chosen from the rows trained on (Light-FMP: its continued-training rows) and recorded.
    ``checkpoint``: the file written after each phase and epoch (module doc); ``resume`` reads it first.
    ``sparse``: a `lightfmp.sparse.SparseConfig` (method ``none`` only): No Selection trained at a fixed
    parameter budget (`lightfmp.sparse.SparseTraining`), saved in the compressed form.
    Under torchrun every rank runs this; only rank 0 scores the test split (``result.test`` is None
    elsewhere) and writes ``out``; the report lists every rank's weight digest.
    """
    task = task_of(data)
    if task is not CTR:  # top-K and next-item: the task's own trainer, the same config, report and folder
        return _run_ranked(task, method, data, model_name, train_cfg or TrainConfig(), sparse, out, progress,
                           log_epochs)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if train_rows not in ("train", "continued") or (train_rows == "continued" and method != "none"):
        raise ValueError(f"train_rows must be 'train' (or 'continued' for method 'none'), got {train_rows!r}")
    model_cfg, train_cfg = model_cfg or ModelConfig(), train_cfg or TrainConfig()
    if options and method in SELECTORS:
        SELECTORS[method](**options)  # an unknown hyper-parameter is refused before any work
    elif options:
        raise ValueError(f"options: method {method!r} takes no hyper-parameters here")
    est = None
    if method.startswith("lightfmp"):
        est = LightFMP(model=model_name, prune_ratio=prune_ratio, pretrain_size=pretrain_size,
                       init=init or ("scratch" if method == "lightfmp-scratch" else "pretrained"),
                       model_config=model_cfg, train_config=train_cfg, pretrain_config=pretrain_cfg,
                       seed=train_cfg.seed, progress=progress and distributed.current().is_main,
                       keep_fields=keep_fields, log_epochs=log_epochs).resolve(data)
        method, train_cfg = est.method, est.train_config
    else:
        train_cfg = train_cfg.resolved(len((data.split("train") if train_rows == "train" else data.continued())[1]))
    config = _config(method, model_name, prune_ratio if method != "none" else 0.0, model_cfg, train_cfg, data,
                     options, est)
    if method in ("autofield", "optfs", "optem"):  # two-stage deep methods: the search length shapes the result
        config["search_epochs"] = search_epochs
    if method == "none":
        config["train_rows"] = train_rows
    if sparse is not None:
        if method != "none":
            raise ValueError(f"sparse training applies to method 'none' (No Selection), not {method!r}")
        config["sparse"] = asdict(sparse)
    schema, info = data.schema, distributed.current()
    identity = {**{k: v for k, v in config.items() if k != "data"}, "dataset": schema.dataset,
                "fields": list(schema.names), "vocab_sizes": list(schema.vocab_sizes), "world_size": info.world}
    ctx = _Ctx(data, model_name, model_cfg, train_cfg, config, identity,
               Path(checkpoint) if checkpoint is not None else None, resume, progress, log_epochs)
    if est is not None:
        result = _run_lightfmp(ctx, est)
    elif method == "none":
        result = _run_none(ctx, train_rows)
    else:
        result = _run_selector(ctx, prune_ratio, search_epochs)
    result.extra.update(resumed=bool(resume), distributed={"world_size": info.world, "backend": info.backend,
                                                           "rank_state_sha1": distributed.all_digests(result.model)})
    if info.is_main:
        result.test, result.test_scores = _score_test(result, data, train_cfg)
        if out is not None:
            save(result, out, data)
    return result


@dataclass
class TaskFit:
    """What a top-K or next-item trainer did, in the shape the report reads."""

    select_on: str
    best_metric: float
    best_epoch: int
    epochs_run: int
    train_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def _run_ranked(task: Task, method: str, data: Any, model_name: str, train_cfg: TrainConfig, sparse: Any,
                out: str | Path | None, progress: bool, log_epochs: bool) -> RunResult:
    """A top-K (`lightfmp.topk`) or next-item (`lightfmp.sequential`) run: the task's trainer (`_RANKED`), model
    selection on the task's validation metric, the test metrics, one report and run folder. TrainConfig's epochs,
    lr, batch size (None: the model's paper value), patience, seed and device drive every trainer."""
    if task.name not in _RANKED:
        raise ValueError(f"no trainer for the {task.name} task in the pipeline")
    t0 = time.perf_counter()
    model, fit, metrics, params, params_after, extra = _RANKED[task.name](method, data, model_name, train_cfg, sparse,
                                                                          progress, log_epochs)
    config = {"task": task.name, "method": method, "model": model_name, "seed": train_cfg.seed,
              "train_config": train_cfg.to_dict(),
              "data": {"dataset": data.name, "protocol": getattr(data, "protocol", "per-user train, valid, test")},
              **({"sparse": asdict(sparse)} if sparse is not None else {})}
    result = RunResult(method, model_name, None, [], model, fit, _train_rows(data), params, params_after, config,
                       continued_seconds=time.perf_counter() - t0, extra=extra, task=task.name, metrics=metrics)
    if out is not None:
        runs.write_task_run(out, result.report(), model.cpu(), config, sparse=sparse is not None)
    return result


def _train_rows(data: Any) -> int:
    """Training interactions (top-K) or training sequences (next-item)."""
    train = data.train
    return int(len(train.items)) if hasattr(train, "items") else int(len(train))


def _topk(method: str, data: Any, model_name: str, train_cfg: TrainConfig, sparse: Any, progress: bool,
          log_epochs: bool) -> tuple[Any, TaskFit, dict[str, float], int, int, dict[str, Any]]:
    """Top-K: dense (method ``none``) or at a fixed density (``sparse``: DSL and its comparators)."""
    from lightfmp.topk import build_topk_model, evaluate_topk, fit_topk, paper_fit_config

    if method != "none":
        raise ValueError(f"top-K runs take method 'none' (dense) or a sparse config, not {method!r}")
    model = build_topk_model(model_name, data, seed=train_cfg.seed)
    fit_cfg = paper_fit_config(model_name, epochs=train_cfg.epochs, lr=train_cfg.lr, patience=train_cfg.patience,
                               seed=train_cfg.seed, device=train_cfg.device,
                               **({"batch_size": train_cfg.batch_size} if train_cfg.batch_size else {}))
    params, st = count_params(model), None
    if sparse is not None:
        from lightfmp.sparse import get_variant

        if get_variant(sparse.method).dense_first:  # post-training magnitude pruning: train dense first
            fit_topk(model, data, fit_cfg, progress=progress, log_epochs=log_epochs)
        st = sparse.build(model, train_cfg.seed)
    hook = (lambda m, opt, step, total: st.after_step(step, total, opt)) if st is not None else None
    fr = fit_topk(model, data, fit_cfg, after_step=hook, progress=progress, log_epochs=log_epochs)
    extra: dict[str, Any] = {}
    params_after = _after_sparse(st, params, extra)
    metrics = evaluate_topk(model, data, "test", ks=fit_cfg.ks, batch_size=fit_cfg.eval_batch_size)
    fit = TaskFit(fr.select_on, fr.best_metric, fr.best_epoch, fr.epochs_run, fr.train_seconds, fr.history)
    return model, fit, metrics, params, params_after, extra


def _next_item(method: str, data: Any, model_name: str, train_cfg: TrainConfig, sparse: Any, progress: bool,
               log_epochs: bool) -> tuple[Any, TaskFit, dict[str, float], int, int, dict[str, Any]]:
    """Next-item: the transformer trained dense (method ``none``), or then pruned by PruneRec's three stages, each
    restored by distillation from the unpruned model (``prunerec``). Parameters are the non-embedding ones."""
    from lightfmp.sequential import (FitConfig, NextItemTransformer, TransformerConfig, evaluate_next_item,
                                     fit_next_item, non_embedding_params)
    from lightfmp.sequential.prunerec import PruneRecConfig, run_stages

    if method not in ("none", "prunerec") or sparse is not None or model_name != "transformer":
        raise ValueError("next-item runs take model 'transformer' and method 'none' or 'prunerec'")
    cfg = FitConfig(epochs=train_cfg.epochs, lr=train_cfg.lr, patience=train_cfg.patience, seed=train_cfg.seed,
                    **({"batch_size": train_cfg.batch_size} if train_cfg.batch_size else {}))
    torch.manual_seed(train_cfg.seed)
    model = NextItemTransformer(TransformerConfig(num_items=data.num_items))
    fr = fit_next_item(model, data, cfg, device=train_cfg.device, progress=progress)
    params, extra = non_embedding_params(model), {}
    if method == "prunerec":
        restore_cfg = replace(cfg, select_on="loss", patience=1)
        stages = run_stages(model, data, PruneRecConfig(seed=train_cfg.seed),
                            lambda student, teacher: vars(fit_next_item(student, data, restore_cfg, teacher=teacher,
                                                                        device=train_cfg.device)))
        extra["stages"] = [{"stage": st.name, "non_embedding_params": non_embedding_params(st.model),
                            "restore_seconds": st.restore_seconds, "score_seconds": st.score_seconds}
                           for st in stages]
        model = stages[-1].model
    fit = TaskFit(cfg.select_on, float(fr.best.get(cfg.select_on, float("nan"))), fr.best_epoch, fr.epochs_run,
                  fr.train_seconds, fr.history)
    return model, fit, evaluate_next_item(model, data, "test"), params, non_embedding_params(model), extra


_RANKED = {"topk": _topk, "next-item": _next_item}


def _score_test(result: RunResult, data: Any, cfg: TrainConfig) -> tuple[EvalResult, np.ndarray]:
    """The test split's metrics and probabilities (row order, kept for paired comparisons between runs)."""
    Xt, yt = data.split("test")
    logits, seconds = predict_logits(result.model, _kept(Xt, result.kept), cfg.eval_batch_size, cfg.device)
    probs, y = sigmoid(logits), np.asarray(yt)
    return EvalResult(auc(y, probs), logloss(y, probs), seconds, throughput(len(y), seconds)), probs.astype(np.float32)


def _config(method: str, model_name: str, prune_ratio: float, model_cfg: Any, train_cfg: Any, data: Any,
            options: dict[str, Any] | None = None, est: LightFMP | None = None) -> dict[str, Any]:
    """config.json, one shape for every method, the method's own keys added (docs/architecture.md)."""
    return {"method": method, "model": model_name, "seed": train_cfg.seed, "prune_ratio": prune_ratio,
            "model_config": model_cfg.to_dict(), "train_config": train_cfg.to_dict(), "options": dict(options or {}),
            "data": {"dir": str(getattr(data, "dir", "")), "dataset": data.schema.dataset},
            **(est.config() if est is not None else {})}


def _run_none(ctx: _Ctx, train_rows: str) -> RunResult:
    """No Selection: the backbone on every field (whole train split, or train minus D_S); with a sparse config,
    trained at its fixed density (`_sparse_training`)."""
    from lightfmp.selection.deep import build_backbone

    data, schema = ctx.data, ctx.data.schema
    ckpt = ctx.load()
    t1 = time.perf_counter()
    model = build_backbone(ctx.model_name, schema.vocab_sizes, _selector_cfg(ctx))
    rows = data.split("train") if train_rows == "train" else data.continued()
    state = ckpt["trainer"] if ckpt is not None else None
    st = _sparse_training(ctx, model, rows, ckpt) if ctx.config.get("sparse") else None
    saver = (lambda s: ctx.save("training", trainer=s)) if st is None else (
        lambda s: ctx.save("training", trainer=s, sparse=st.state_dict()))
    fr = ctx.fit(model, rows, data.split("valid"), "training", state, saver, st.fit_hook() if st else None)
    ct = time.perf_counter() - t1 + (float(state["elapsed_seconds"]) if state is not None else 0.0)
    params = count_params(model)
    extra: dict[str, Any] = {"stage": "none", "train_split": "train" if train_rows == "train" else "train minus D_S"}
    params_after = _after_sparse(st, params, extra)
    return RunResult("none", ctx.model_name, schema, list(range(schema.num_fields)), model, fr, int(len(rows[1])),
                     params, params_after, ctx.config, continued_seconds=ct, extra=extra)


def _sparse_training(ctx: _Ctx, model: nn.Module, rows: Any, ckpt: dict[str, Any] | None) -> Any:
    """The `SparseTraining` of a sparse No Selection run; a ``dense_first`` method (post-training magnitude
    pruning) trains the dense model first, without checkpoints (a run killed there starts over)."""
    from lightfmp.sparse import SparseConfig, get_variant

    cfg = SparseConfig(**ctx.config["sparse"])
    if get_variant(cfg.method).dense_first and ckpt is None:
        ctx.fit(model, rows, ctx.data.split("valid"), "dense training", None, None)
    st = cfg.build(model, ctx.train_cfg.seed)
    if ckpt is not None:
        st.load_state_dict(ckpt["sparse"])
    return st


def _after_sparse(st: Any, params: int, extra: dict[str, Any]) -> int:
    """After sparse training (``st``; None: dense): the masks follow the restored best weights, the stats go to
    ``extra["sparse"]``; returns the parameters left (the nonzero ones)."""
    if st is None:
        return params
    st.sync_to_weights()  # fit restored its best epoch's weights: the masks follow them
    extra["sparse"] = stats = st.stats()
    return params - stats["masked_params"] + int(round(stats["nonzero_density"] * stats["masked_params"]))


def _run_lightfmp(ctx: _Ctx, est: LightFMP) -> RunResult:
    """Light-FMP's phases with a checkpoint after pruning and per epoch; kept fields and M_P from rank 0."""
    data = ctx.data
    ckpt = ctx.load()
    if ckpt is None:
        t0 = time.perf_counter()
        est.choose(data)
        est._chosen(data.schema, distributed.broadcast_object(est.support_), est.pretrain_)  # decided on rank 0
        est.cut()
        distributed.broadcast_module(est.model_)
        est.pretrain_seconds_ = time.perf_counter() - t0
        state = None
    else:
        est._chosen(data.schema, ckpt["keep"], _pretrain_from(ckpt["pretrain"]))
        est.params_before_, est.pretrain_seconds_ = int(ckpt["params_before"]), float(ckpt["pretrain_seconds"])
        est.pretrained_model_ = None  # not kept in checkpoints: M_T is only needed to build M_P
        est.model_ = _rebuild(ctx, est.support_, ckpt["model"], est.compact_model_config())  # kept widths too
        state = ckpt.get("trainer")
    payload = dict(keep=est.support_, pretrain=_pretrain_dict(est.pretrain_), params_before=est.params_before_,
                   pretrain_seconds=est.pretrain_seconds_)
    if ckpt is None:
        ctx.save("pruned", **payload, model=est.model_.state_dict())
    est.continue_training(data, resume=state, on_epoch_end=ctx.epoch_saver("continued", **payload))
    return _estimator_result(est, ctx.config)


def _estimator_result(est: LightFMP, config: dict[str, Any]) -> RunResult:
    t = est.timings_
    m = est.schema_.num_fields  # with a budget the field count is learned: tau is what was pruned
    tau = est.prune_ratio if est.pretrain_config.budget is None else 1.0 - len(est.support_) / m
    return RunResult(est.method, est.model, est.schema_, est.support_, est.model_, est.fit_result_, est.train_rows_,
                     est.params_before_, est.params_after_, config, tau, t["pretrain_seconds"],
                     t["continued_seconds"], est.pretrain_rows_, est.mask_scores_,
                     {"stage": "two-stage", **est.report_extra()}, estimator=est)


def _run_selector(ctx: _Ctx, prune_ratio: float, search_epochs: int) -> RunResult:
    """A baseline: its search (`FieldSelector.fit`), then retraining on the kept fields (two-stage and
    shallow), or its one joint training (single-stage); checkpoints after the search and per epoch."""
    from lightfmp.selection.deep import build_backbone

    data, schema, method = ctx.data, ctx.data.schema, ctx.config["method"]
    cfg = _selector_cfg(ctx, prune_ratio, search_epochs)
    params_before = count_params(build_backbone(ctx.model_name, schema.vocab_sizes, cfg))
    # a single-stage method's one joint training has no hooks: its --resume starts over
    ckpt = ctx.load() if SELECTORS[method].stage != "single-stage" else None
    sel = None
    if ckpt is not None:
        s = ckpt["search"]
        keep, scores, pt, stage, extra = list(s["keep"]), list(s["scores"]), float(s["seconds"]), s["stage"], s["extra"]
        model, state = _rebuild(ctx, keep, ckpt["model"]), ckpt.get("trainer")
    else:
        sel = SELECTORS[method](**ctx.config["options"])
        t0 = time.perf_counter()
        sel.fit(data, cfg=cfg)
        pt, stage, scores = time.perf_counter() - t0, sel.stage, [float(v) for v in sel.scores_]
        extra = _selector_extra(sel, schema, prune_ratio)
        if stage == "single-stage":
            return RunResult(method, ctx.model_name, schema, list(range(schema.num_fields)), sel.model_,
                             sel.fit_result_, int(len(data.split("train")[1])), params_before,
                             count_params(sel.model_, with_gate=True), ctx.config, prune_ratio, 0.0, pt, 0, scores,
                             {"stage": stage, "train_split": "train", **extra}, estimator=sel)
        keep = distributed.broadcast_object(sel.get_support(prune_ratio))
        model = (sel.retrain_model(data, keep) if hasattr(sel, "retrain_model")
                 else build_backbone(ctx.model_name, [schema.vocab_sizes[i] for i in keep], cfg))
        state = None
    search = {"keep": keep, "scores": scores, "seconds": pt, "stage": stage, "extra": extra}
    if ckpt is None:
        ctx.save("selected", search=search, model=model.state_dict())
    t1 = time.perf_counter()
    (Xtr, ytr), (Xva, yva) = data.split("train"), data.split("valid")
    fr = ctx.fit(model, (_kept(Xtr, keep), ytr), (_kept(Xva, keep), yva), "retraining", state,
                 ctx.epoch_saver("retraining", search=search))
    ct = time.perf_counter() - t1 + (float(state["elapsed_seconds"]) if state is not None else 0.0)
    return RunResult(method, ctx.model_name, schema, keep, model, fr, int(len(ytr)), params_before,
                     count_params(model, with_gate=True), ctx.config, prune_ratio, pt, ct, 0, scores,
                     {"stage": stage, "train_split": "train", **extra}, estimator=sel)


def _selector_cfg(ctx: _Ctx, prune_ratio: float = 0.5, search_epochs: int = 2) -> SelectorConfig:
    return SelectorConfig(model_name=ctx.model_name, model_cfg=ctx.model_cfg, train_cfg=ctx.train_cfg,
                          prune_ratio=prune_ratio, search_epochs=search_epochs, log_epochs=ctx.log_epochs)


def _selector_extra(sel: Any, schema: Any, prune_ratio: float) -> dict[str, Any]:
    """report.json's keys of a fitted baseline (its ranking, value-level shares, search steps)."""
    extra = {a.rstrip("_"): np.asarray(getattr(sel, a)).tolist() for a in ("kept_fraction_", "values_remaining_")
             if hasattr(sel, a)}
    if sel.stage == "single-stage":
        extra["ranked_fields"] = [schema.names[i] for i in sel.get_support(prune_ratio)]
    if hasattr(sel, "search_"):
        extra["search_steps"] = sel.search_.steps
    return extra


def _rebuild(ctx: _Ctx, keep: Sequence[int], state: dict[str, torch.Tensor],
             model_cfg: ModelConfig | None = None) -> nn.Module:
    """The model a checkpoint's state belongs to: the backbone on ``keep`` (with its frozen value mask)."""
    from lightfmp.models import build_model
    from lightfmp.selection.deep import ValueMask

    sizes = [ctx.data.schema.vocab_sizes[i] for i in keep]
    model = build_model(ctx.model_name, sizes, model_cfg or ctx.model_cfg)
    if "gate.mask" in state:  # OptFS / OptEm: the mask is stored already scaled
        model.gate = ValueMask(sizes, state["gate.mask"].numpy())
    model.load_state_dict(state)
    return model


def _kept(X: Any, keep: Sequence[int]) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(X)[:, list(keep)])


def _pretrain_dict(pre: PretrainResult) -> dict[str, Any]:
    """A PretrainResult as plain values (checkpoints load with weights_only=True); floats round-trip exactly."""
    return json.loads(json.dumps(asdict(pre), default=lambda v: v.tolist()))


def _pretrain_from(d: dict[str, Any]) -> PretrainResult:
    return PretrainResult(**{**d, "keep_probability": np.asarray(d["keep_probability"], dtype=np.float64),
                             "log_alpha": np.asarray(d["log_alpha"], dtype=np.float64)})


def save(result: RunResult | LightFMP, out: str | Path, data: Any, report: dict[str, Any] | None = None) -> Path:
    """Write the run folder of a `RunResult` (or of a fitted `LightFMP`, scored on the data's test split).
    A frozen value mask (OptFS, OptEm) is folded into the table rows first (exact: z depends on the value
    only); a per-sample gate (AdaFS, MvFS) cannot be: `runs.write_run` keeps it as gated_model.pt."""
    from lightfmp.selection.deep import ValueMask

    if isinstance(result, LightFMP):
        result = _estimator_result(result, _config(result.method, result.model, result.prune_ratio,
                                                   result.model_config, result.train_config, data, est=result))
        result.test, result.test_scores = _score_test(result, data, result.estimator.train_config)
    report = report if report is not None else result.report()
    model = fold_value_mask(result.model) if isinstance(result.model.gate, ValueMask) else result.model
    source = getattr(data, "dir", None)
    if source is None:  # in-memory data: no vocabularies to copy
        import pyarrow as pa

        source = pa.table({"field": pa.array([], pa.string()), "value": pa.array([], pa.string()),
                           "id": pa.array([], pa.int32())})
    return runs.write_run(out, report, model.cpu(), result.schema.subset(result.kept), source, result.config,
                          test_scores=result.test_scores, sparse=bool(result.config.get("sparse")))


save_run = save  # lightfmp.save_run(est, "runs/my_run", data): the run folder of a fitted LightFMP


def fold_value_mask(model: nn.Module) -> nn.Module:
    """Fold a frozen per-value mask (`ValueMask`) into the table rows and drop the gate (exact)."""
    gate = model.gate
    model.gate = None
    with torch.no_grad():
        for table in model.field_tables():
            table.weight.mul_(gate.mask.to(table.weight.device).unsqueeze(1))
    return model
