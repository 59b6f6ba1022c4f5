"""Options and helpers shared by every training verb (`train`, `prune`, `select`).

Use::

    @click.command("train")
    @common.training_options
    def command(**kwargs):
        args = common.CommonArgs.from_kwargs(kwargs)     # leaves the verb's own options in kwargs
        data = common.open_prepared(args)                 # PreparedData
        model_cfg, train_cfg = common.model_config(args), common.train_config(args)
        ...
        common.emit_report(report, args)                  # table on stdout, or JSON with --json

Choices: the data split is drawn with open_data's own fixed split seed (2021), not `--seed`, so that
runs with different training seeds are compared on the same split; `--seed` seeds training only.
Progress bars go to stderr and only when stderr is a terminal and `--quiet` is not given.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from lightfmp.data.spec import DataSpec, names
from lightfmp.errors import InputError
from lightfmp.knobs import field_types, flagged, split_settings, with_overrides
from lightfmp.models import MODEL_NAMES
from lightfmp.models.config import ModelConfig
from lightfmp.train.config import TrainConfig

# The data, model and training options are the flagged fields of DataSpec, ModelConfig and TrainConfig
# (`lightfmp.knobs`): their defaults and help live there. Every other field is set with --set.
SECTIONS = {"data": DataSpec, "model": ModelConfig, "train": TrainConfig}

_RUN_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--model",), dict(type=click.Choice(MODEL_NAMES), default="dnn", show_default=True, help="Backbone.")),
    (("--out",), dict(type=click.Path(), default=None, help="Run folder to write (replaced on success).")),
    (("--exact-gpu",), dict(is_flag=True, help="On cuda: plain float32 matmuls and eager steps "
                                                "(no TF32, no CUDA graphs), e.g. to compare with a CPU run.")),
    (("--set", "settings"), dict(multiple=True, metavar="SECTION.NAME=VALUE",
                                 help="Any other setting of the data, model or train config (prune: also pretrain; repeatable), e.g. "
                                      "--set train.embed_l2=1e-4 --set model.batch_norm=true.")),
    (("--json", "as_json"), dict(is_flag=True, help="Print the report as JSON on stdout.")),
    (("--quiet",), dict(is_flag=True, help="No progress bars.")),
]


def _dest(section: str, name: str) -> str:
    return f"{section}__{name}"


def _click_type(tp: Any, f: Any) -> Any:
    kw = dict(f.metadata["click"])
    if "choices" in kw:
        return click.Choice(kw.pop("choices"))
    if kw.pop("path", False):
        return click.Path()
    if f.metadata.get("parse") is not None:
        return str
    base = tp if tp in (int, float, str) else next(a for a in typing.get_args(tp) if a in (int, float, str))
    if kw:
        return (click.IntRange if base is int else click.FloatRange)(**kw)
    return base


def _config_options(sections: dict[str, type] = SECTIONS) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """One click option per flagged config field, named, typed, defaulted and explained by the field."""
    out = []
    for section, cls in sections.items():
        types_ = field_types(cls)
        for f in flagged(cls):
            show = f.metadata["show"]
            if f.default is None:  # None means "chosen for you": shown as its word, e.g. auto
                kw: dict[str, Any] = dict(default=None, show_default=show or False)
            else:  # the field's default, in its text form where it has one
                kw = dict(default=show if f.metadata.get("parse") is not None else f.default, show_default=True)
            kw["help"] = f.metadata["help"]
            tp = _click_type(types_[f.name], f)
            if tp is not None:
                kw["type"] = tp
            out.append(((f.metadata["flag"], _dest(section, f.name)), kw))
    return out


def training_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command with the data, model and training options and the run options."""
    opts = _config_options()
    opts.insert(next(i for i, (d, _) in enumerate(opts) if d[1].startswith("model__")), _RUN_OPTIONS[0])
    for decls, kw in reversed(opts + _RUN_OPTIONS[1:]):
        f = click.option(*decls, **kw)(f)
    return f


def config_options(sections: dict[str, type]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a verb with the flagged fields of its own config sections (e.g. train's ``sparse``); parse them
    with ``CommonArgs.from_kwargs(kwargs, configs=sections)``."""
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for decls, kw in reversed(_config_options(sections)):
            f = click.option(*decls, **kw)(f)
        return f
    return decorate


def _build(cls: type, given: dict[str, Any], settings: dict[str, str], section: str) -> Any:
    """``cls()`` with the given flags (parsed by the field where it has a text form) and ``--set`` values."""
    parsed = {}
    for f in flagged(cls):
        v = given.get(f.name)
        if v is not None:
            parsed[f.name] = f.metadata["parse"](v) if f.metadata.get("parse") is not None else v
    try:
        cfg = cls(**parsed)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return with_overrides(cfg, settings, section) if settings else cfg


def sections_from_kwargs(kwargs: dict[str, Any], sections: dict[str, type]) -> dict[str, Any]:
    """A verb's own config sections (`config_options`) built from their flags; removes them from ``kwargs``."""
    given: dict[str, dict[str, Any]] = {s: {} for s in sections}
    for key in [k for k in kwargs if "__" in k and k.split("__")[0] in sections]:
        section, name = key.split("__", 1)
        given[section][name] = kwargs.pop(key)
    return {s: _build(c, given[s], {}, s) for s, c in sections.items()}


@dataclass(frozen=True)
class CommonArgs:
    """The shared options, parsed into their configs. `from_kwargs` removes them from the verb's kwargs;
    ``extra`` holds --set values of sections the verb itself reads (e.g. prune's ``pretrain``); ``configs`` the
    verb's own config sections built from their flags and --set (e.g. train's ``sparse``)."""

    spec: DataSpec
    model: str
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    out: str | None
    as_json: bool
    quiet: bool
    extra: dict[str, dict[str, str]]
    configs: dict[str, Any]

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any], extra_sections: tuple[str, ...] = (),
                    configs: dict[str, type] | None = None) -> "CommonArgs":
        sections = {**SECTIONS, **(configs or {})}
        given: dict[str, dict[str, Any]] = {s: {} for s in sections}
        for key in [k for k in kwargs if "__" in k and k.split("__")[0] in sections]:
            section, name = key.split("__", 1)
            given[section][name] = kwargs.pop(key)
        settings = split_settings(kwargs.pop("settings"), (*sections, *extra_sections))
        exact_gpu = kwargs.pop("exact_gpu")
        cfgs = {s: _build(c, given[s], settings[s], s) for s, c in sections.items()}
        if exact_gpu:
            cfgs["train"] = replace(cfgs["train"], tf32=False, cuda_graphs=False)
        return cls(cfgs["data"], kwargs.pop("model"), cfgs["model"], cfgs["train"], kwargs.pop("out"),
                   kwargs.pop("as_json"), kwargs.pop("quiet"), {s: settings[s] for s in extra_sections},
                   {s: cfgs[s] for s in (configs or {})})

    @property
    def seed(self) -> int:
        return self.train_cfg.seed

    @property
    def progress(self) -> bool:
        return not self.quiet and not self.as_json and sys.stderr.isatty()

    @property
    def log_epochs(self) -> bool:
        """One line per epoch on stderr where bars are not shown (stderr not a terminal), unless --quiet."""
        return not self.quiet and not sys.stderr.isatty()

    @property
    def say(self) -> bool:
        """Short notes on stderr (e.g. the batch size chosen): not with --quiet or --json."""
        return not self.quiet and not self.as_json


def resolve_device(device: str) -> str:
    """`cuda` only where torch sees a GPU; otherwise a one-line InputError."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError("--device cuda: expected a CUDA GPU, but torch sees none "
                             "(no GPU on this machine or a CPU-only torch build); use --device cpu")
    return device


def column_names(value: str | None) -> list[str] | None:
    """'a, b,c' -> ['a', 'b', 'c'] (None stays None: the roles are then inferred)."""
    got = names(value)
    return list(got) if got else None


def open_prepared(args: CommonArgs, pretrain_size: int | None = None) -> Any:
    """The PreparedData of the run's DataSpec (a prepared folder, or a raw format prepared and cached).

    Under torchrun, rank 0 prepares (or finds) the cached folder first and the other ranks open it
    after a barrier, so no two processes write the same cache entry.
    """
    from lightfmp.train import distributed

    spec = args.spec
    if spec.data is None and spec.fmt is None:
        raise InputError("expected --data DIR, or --format F with --input PATH (or --rows N for synthetic)")
    if spec.data is not None and (spec.fmt is not None or spec.input is not None):
        raise InputError("--data: give either --data or --format/--input, not both")
    if pretrain_size is not None:
        spec = replace(spec, pretrain_size=pretrain_size)
    info = distributed.current()
    data = spec.open(progress=args.progress) if info.is_main else None
    distributed.barrier()
    return data if data is not None else spec.open()


def resume_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--resume: continue from the run folder's last checkpoint."""
    return click.option("--resume", is_flag=True,
                        help="Continue from the run folder's last checkpoint (same options as the killed run).")(f)


def start_distributed(args: CommonArgs) -> Any:
    """Join the torchrun process group, if any (gloo on CPU, nccl on CUDA); returns its DistInfo.

    The group is left when the click command's context closes, on success (together, after a barrier)
    and on error alike.
    """
    from lightfmp.train import distributed

    info = distributed.init_from_env(resolve_device(args.train_cfg.device))
    if info.active:
        click.get_current_context().call_on_close(_leave_group)
    return info


def _leave_group() -> None:
    """Called as the command's context closes; ranks that succeeded leave together (a barrier)."""
    from lightfmp.train import distributed

    exc = sys.exc_info()[1]
    ok = exc is None or (isinstance(exc, click.exceptions.Exit) and exc.exit_code == 0)
    distributed.shutdown(together=ok)


_ACTIVE_CHECKPOINT: list[Path] = []


def checkpoint_path(out: str) -> Path:
    """Where a run folder keeps its last checkpoint while the run is in progress (also what Ctrl-C names)."""
    from lightfmp.train.checkpoint import FILENAME

    path = Path(out) / FILENAME
    _ACTIVE_CHECKPOINT[:] = [path]
    return path


def active_checkpoint() -> Path | None:
    """The checkpoint path of the run this process is training, if any (for the Ctrl-C message)."""
    return _ACTIVE_CHECKPOINT[0] if _ACTIVE_CHECKPOINT else None


def check_run_out(out: str | None, args: "CommonArgs") -> None:
    """Refuse, before any work, an explicit --out that could lose the user's files (`runs.outputs`)."""
    from lightfmp.runs.outputs import check_out_folder

    if out is not None:
        check_out_folder(out, "run", protect=args.spec.paths)


@contextmanager
def diverged_keeps_checkpoint(path: Path) -> Iterator[None]:
    """A NaN/inf loss stops the run with one line that also names the last good checkpoint, if any."""
    from lightfmp.errors import NonFiniteLossError

    try:
        yield
    except NonFiniteLossError as exc:
        kept = (f"; the last good checkpoint is kept at {path} (resume with --resume)" if path.is_file()
                else "; no checkpoint was written before it")
        raise NonFiniteLossError(f"{exc}{kept}") from None


def run_verb(args: CommonArgs, method: str, default_out: Callable[[Any], str], pretrain_size: int | None = None,
             **run_kwargs: Any) -> Any:
    """Every training verb's body: options and --out checked before any work, torchrun joined, the data opened,
    `lightfmp.experiment.run` with the run folder's checkpoint, the report printed -> (data, RunResult) on rank 0."""
    from lightfmp.data.split import DEFAULT_PRETRAIN_SIZE
    from lightfmp.experiment import run
    from lightfmp.pruning.steps import continued_rows

    mcfg, tcfg = args.model_cfg, replace(args.train_cfg, device=resolve_device(args.train_cfg.device))
    check_run_out(args.out, args)  # before any work: nothing of the user's is replaced
    info = start_distributed(args)
    data = open_prepared(args, pretrain_size=pretrain_size)
    out = args.out or default_out(data)
    if args.out is None:
        check_run_out(out, args)
    rows = continued_rows(data, range(data.schema.num_fields)) if method == "lightfmp" else data.split("train")[1]
    say_batch(tcfg, len(rows), args)  # Light-FMP's batch is chosen from train minus D_S
    if method == "lightfmp":  # no --pretrain-size: the D_S the data holds, at most the paper's 2,000
        run_kwargs["pretrain_size"] = pretrain_size or min(DEFAULT_PRETRAIN_SIZE, len(data.pretrain_index))
    ckpt = checkpoint_path(out)
    with diverged_keeps_checkpoint(ckpt):
        result = run(method, data, model_name=args.model, model_cfg=mcfg, train_cfg=tcfg, out=out, checkpoint=ckpt,
                     progress=args.progress, log_epochs=args.log_epochs, **run_kwargs)
    if not info.is_main:
        return None
    emit_report(result.report(), args, out_dir=out)
    return data, result


def say_batch(cfg: Any, rows: int, args: CommonArgs) -> None:
    """The line saying which batch size an automatic `cfg` trains ``rows`` rows with (stderr, rank 0)."""
    from lightfmp.train import distributed

    if cfg.batch_size is None and args.say and distributed.current().is_main:
        click.echo(cfg.batch_note(rows), err=True)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        s = ", ".join(str(x) for x in v)
        return s if len(s) <= 70 else s[:67] + "..."
    return str(v)


SUMMARY_KEYS = ("method", "model", "dataset", "seed", "prune_ratio", "fields_total", "fields_kept",
                "fields_pruned", "auc", "logloss", "val_auc", "pretrain_seconds", "continued_seconds",
                "total_seconds", "inference_seconds", "train_samples_per_second",
                "inference_samples_per_second", "params_before", "params_after")


def summary_table(report: dict[str, Any]) -> str:
    """A one-screen, two-column summary of a report (keys in product.md order)."""
    rows = []
    for k in SUMMARY_KEYS:
        if k not in report:
            continue
        v = report[k]
        if k in ("fields_kept", "fields_pruned") and isinstance(v, list):
            v = f"{len(v)}: " + _fmt(v) if v else "0"
        rows.append((k, _fmt(v)))
    structure = report.get("structure")
    if report.get("budget") and isinstance(structure, dict):  # joint pruning: the kept share of the model
        rows.append(("budget", f"{report['budget']} (expected share {_fmt(report.get('expected_share'))})"))
        rows += [(f"  {layer['name']}", f"width {layer['width_before']:,.0f} -> {layer['width_after']:,.0f}, params "
                  f"{layer['params_before']:,.0f} -> {layer['params_after']:,.0f}, mult-adds "
                  f"{layer['flops_before']:,.0f} -> {layer['flops_after']:,.0f}") for layer in structure["layers"]]
    width = max(len(k) for k, _ in rows) if rows else 0
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def emit_report(report: dict[str, Any], args: CommonArgs, out_dir: str | None = None) -> None:
    """Print the report: JSON on stdout with --json, else the summary table (and where the run went)."""
    if args.as_json:
        click.echo(json.dumps(report, indent=1, default=str))
        return
    click.echo(summary_table(report))
    if out_dir is not None:
        click.echo(f"run folder: {out_dir}")
