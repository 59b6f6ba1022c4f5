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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from lightfmp.errors import InputError

# The registry's names (lightfmp.models.MODELS, checked by tests/pruning/test_plan.py), spelled out so
# that importing the CLI does not import torch (2-3 s, paid by `prepare` and every --help otherwise).
MODEL_NAMES = ("dnn", "widedeep", "deepfm", "xdeepfm", "pnn", "dcn")
FORMATS = ("criteo", "avazu", "movielens", "csv", "parquet", "synthetic")

# (param_decls, click kwargs), applied in this order so that --help lists them in this order.
_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("--data",), dict(type=click.Path(file_okay=False), default=None,
                        help="Prepared data folder (from `lightfmp prepare`).")),
    (("--format", "fmt"), dict(type=click.Choice(FORMATS), default=None,
                               help="Raw format, prepared on the fly and cached (instead of --data).")),
    (("--input",), dict(type=click.Path(), default=None, help="Raw input file or folder for --format.")),
    (("--rows",), dict(type=click.IntRange(min=1), default=None,
                       help="Rows to generate (synthetic) or read at most (raw formats).")),
    (("--label",), dict(type=str, default=None,
                        help="csv/parquet with --format: the label column (default label or click).")),
    (("--categorical",), dict(type=str, default=None,
                              help="csv/parquet with --format: comma-separated categorical columns.")),
    (("--numeric",), dict(type=str, default=None,
                          help="csv/parquet with --format: comma-separated numeric columns (bucketed).")),
    (("--drop",), dict(type=str, default=None,
                       help="csv/parquet with --format: comma-separated columns that are not fields (row ids).")),
    (("--delimiter",), dict(type=str, default=None,
                            help="csv with --format: the column delimiter (default: detected from the header).")),
    (("--label-map",), dict(type=str, default=None,
                            help="With --format: raw label values to 0/1, e.g. yes=1,no=0.")),
    (("--model",), dict(type=click.Choice(MODEL_NAMES), default="dnn", show_default=True, help="Backbone.")),
    (("--embed-dim",), dict(type=click.IntRange(min=1), default=10, show_default=True,
                            help="Embedding dimension per field (the paper uses 64 on MovieLens).")),
    (("--embed-init",), dict(type=str, default="1e-4", show_default=True,
                             help="Embedding init: the std of N(0, std^2), or 'xavier' (Xavier-uniform "
                                  "over the table, as the OptFS code).")),
    (("--hidden",), dict(type=str, default="400,400,200", show_default=True,
                         help="MLP hidden sizes, comma-separated.")),
    (("--dropout",), dict(type=click.FloatRange(0.0, 1.0, max_open=True), default=0.0, show_default=True)),
    (("--out",), dict(type=click.Path(), default=None, help="Run folder to write (replaced on success).")),
    (("--seed",), dict(type=int, default=0, show_default=True, help="Training seed (the split is fixed).")),
    (("--device",), dict(type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)),
    (("--exact-gpu",), dict(is_flag=True, help="On cuda: plain float32 matmuls and eager steps "
                                                "(no TF32, no CUDA graphs), e.g. to compare with a CPU run.")),
    (("--epochs",), dict(type=click.IntRange(min=1), default=10, show_default=True)),
    (("--patience",), dict(type=click.IntRange(min=0), default=2, show_default=True,
                           help="Early stopping patience on validation AUC.")),
    (("--batch-size",), dict(type=click.IntRange(min=1), default=None, show_default="auto",
                             help="Training batch. Default: chosen from the training rows, about 200 steps an "
                                  "epoch (the power of two nearest rows/200, within 32..4096): the paper's 4096 "
                                  "from ~580k rows up, e.g. 32 for 6,400 rows, 512 for 80,000.")),
    (("--lr",), dict(type=click.FloatRange(min=0.0, min_open=True), default=1e-3, show_default=True)),
    (("--json", "as_json"), dict(is_flag=True, help="Print the report as JSON on stdout.")),
    (("--quiet",), dict(is_flag=True, help="No progress bars.")),
]
_KEYS = ("data", "fmt", "input", "rows", "label", "categorical", "numeric", "drop", "delimiter", "label_map", "model", "embed_dim", "embed_init",
         "hidden", "dropout", "out", "seed", "device", "exact_gpu", "epochs", "patience", "batch_size", "lr", "as_json", "quiet")


def training_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a click command with every shared training option (see module docstring)."""
    for decls, kw in reversed(_OPTIONS):
        f = click.option(*decls, **kw)(f)
    return f


@dataclass(frozen=True)
class CommonArgs:
    """The shared options, parsed. `from_kwargs` removes them from the verb's kwargs."""

    data: str | None
    fmt: str | None
    input: str | None
    rows: int | None
    label: str | None
    categorical: str | None
    numeric: str | None
    drop: str | None
    delimiter: str | None
    label_map: str | None
    model: str
    embed_dim: int
    embed_init: str
    hidden: str
    dropout: float
    out: str | None
    seed: int
    device: str
    exact_gpu: bool
    epochs: int
    patience: int
    batch_size: int | None
    lr: float
    as_json: bool
    quiet: bool

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> "CommonArgs":
        return cls(**{k: kwargs.pop(k) for k in _KEYS})

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
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_hidden(text: str) -> tuple[int, ...]:
    """'400,400,200' -> (400, 400, 200); at least one layer."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(f"--hidden: expected comma-separated positive integers, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise InputError(f"--hidden: expected positive layer sizes, got {text!r}")
    return sizes


def parse_embed_init(text: str) -> float | None:
    """'1e-4' -> 1e-4 (the std of a normal init); 'xavier' -> None (ModelConfig's Xavier-uniform)."""
    if text.strip().lower() == "xavier":
        return None
    try:
        std = float(text)
    except ValueError:
        std = float("nan")
    if not std > 0.0 or std == float("inf"):
        raise InputError(f"--embed-init: expected a positive std (e.g. 1e-4) or 'xavier', got {text!r}")
    return std


def open_prepared(args: CommonArgs, pretrain_size: int | None = None) -> Any:
    """The PreparedData for --data, or for --format/--input/--rows (prepared on the fly and cached).

    Under torchrun, rank 0 prepares (or finds) the cached folder first and the other ranks open it
    after a barrier, so no two processes write the same cache entry.
    """
    from lightfmp.data.open import open_data
    from lightfmp.train import distributed

    if args.data is None and args.fmt is None:
        raise InputError("expected --data DIR, or --format F with --input PATH (or --rows N for synthetic)")
    if args.data is not None and (args.fmt is not None or args.input is not None):
        raise InputError("--data: give either --data or --format/--input, not both")
    info = distributed.current()

    def open_() -> Any:
        return open_data(data=args.data, fmt=args.fmt, input=args.input, rows=args.rows,
                         pretrain_size=pretrain_size, progress=args.progress and info.is_main,
                         label=args.label, categorical=column_names(args.categorical),
                         numeric=column_names(args.numeric), drop=column_names(args.drop),
                         delimiter=args.delimiter, label_map=args.label_map)

    data = open_() if info.is_main else None
    distributed.barrier()
    return data if data is not None else open_()


def resume_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--resume: continue from the run folder's last checkpoint (issue 7)."""
    return click.option("--resume", is_flag=True,
                        help="Continue from the run folder's last checkpoint (same options as the killed run).")(f)


def start_distributed(args: CommonArgs) -> Any:
    """Join the torchrun process group, if any (gloo on CPU, nccl on CUDA); returns its DistInfo.

    The group is left when the click command's context closes, on success (together, after a barrier)
    and on error alike.
    """
    from lightfmp.train import distributed

    info = distributed.init_from_env(resolve_device(args.device))
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
        check_out_folder(out, "run", protect=(args.data, args.input))


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


def model_config(args: CommonArgs) -> Any:
    """ModelConfig from the shared options (CIN sizes and batch norm keep their defaults)."""
    from lightfmp.models.config import ModelConfig

    return ModelConfig(embed_dim=args.embed_dim, embed_init_std=parse_embed_init(args.embed_init),
                       hidden=parse_hidden(args.hidden), dropout=args.dropout)


def train_config(args: CommonArgs, **overrides: Any) -> Any:
    """TrainConfig from the shared options; `overrides` set any other TrainConfig field. An automatic
    batch size (no --batch-size) stays None here: the pipeline resolves it from the rows it trains on."""
    from lightfmp.train.config import TrainConfig

    gpu = {"tf32": False, "cuda_graphs": False} if args.exact_gpu else {}
    return TrainConfig(lr=args.lr, batch_size=args.batch_size, epochs=args.epochs, patience=args.patience,
                       device=resolve_device(args.device), seed=args.seed, **{**gpu, **overrides})


def run_verb(args: CommonArgs, method: str, default_out: Callable[[Any], str], pretrain_size: int | None = None,
             **run_kwargs: Any) -> Any:
    """Every training verb's body: options and --out checked before any work, torchrun joined, the data opened,
    `lightfmp.experiment.run` with the run folder's checkpoint, the report printed -> (data, RunResult) on rank 0."""
    from lightfmp.data.split import DEFAULT_PRETRAIN_SIZE
    from lightfmp.experiment import run
    from lightfmp.pruning.steps import continued_rows

    mcfg, tcfg = model_config(args), train_config(args)  # bad options fail before data work
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
