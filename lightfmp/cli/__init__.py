"""`lightfmp` command line: one module per verb, loaded only when that verb runs.

Every verb module defines a click command named ``command``. Every failure is one line on stderr
starting ``lightfmp: error:``, never a traceback, and one of these exit statuses:

    0    success
    1    the run failed: training diverged (NaN/inf loss), out of memory, or an internal error
         (``LIGHTFMP_DEBUG=1`` prints the traceback of the last kind)
    2    bad input a user can fix: options, data files, run or data folders, unusable --out paths,
         files that cannot be read or written (permissions, a full disk)
    130  interrupted (Ctrl-C); the line says where the last checkpoint is and how to resume
"""
from __future__ import annotations

import importlib
import os
import sys

import click

from lightfmp.errors import InputError, NonFiniteLossError

VERBS = {
    "demo": "Run Light-FMP end to end on the embedded synthetic data set and print the table.",
    "prepare": "Parse a raw data set, build vocabularies and encode it to a data folder.",
    "train": "No Selection baseline: train a backbone on all fields.",
    "prune": "Light-FMP: pretrain the mask on D_S, prune fields and model, continue training.",
    "select": "A baseline feature selector, then retraining on the kept fields.",
    "predict": "Score a raw file with a saved run (only the kept fields are read).",
    "export": "Write a serving bundle of a run: the compact model (ONNX or torch.export) and its encoder.",
    "report": "Tables (and plots) over run folders, like the paper's Tables 2 and 3.",
    "topk": "Top-K recommendation from implicit feedback (LightGCN, BPR-MF, MultVAE, NeuMF), dense or sparse (DSL).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in VERBS:
            return None
        try:
            module = importlib.import_module(f"lightfmp.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"lightfmp.cli.{name}":
                return _not_built(name)
            raise
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(n, h) for n, h in VERBS.items()])


def _not_built(name: str) -> click.Command:
    @click.command(name, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cmd(args: tuple[str, ...]) -> None:
        raise InputError(f"the '{name}' verb is not available in this build")

    return cmd


@click.group(cls=LazyGroup, help="Light-FMP: prune the input fields of deep CTR models, and the model with them.")
@click.version_option(package_name="lightfmp")
def cli() -> None:
    pass


def main(argv: list[str] | None = None) -> None:
    code = exit_status(argv)
    dist = sys.modules.get("lightfmp.train.distributed")
    if dist is not None and dist.joined:
        # A torchrun worker has left its group (`distributed.shutdown`); skip the interpreter's
        # teardown, where gloo objects outliving the group can abort the process.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed or broken pipe: nothing more to deliver
                pass
        os._exit(code)
    if code:
        sys.exit(code)


def exit_status(argv: list[str] | None) -> int:
    """Run one verb and return its exit status (module docstring) instead of exiting: `main` exits with
    it; tests and programs that embed the CLI call this."""
    try:
        cli.main(args=argv, prog_name="lightfmp", standalone_mode=False)
    except InputError as exc:
        return _fail(str(exc), 2)
    except NonFiniteLossError as exc:
        return _fail(str(exc), 1)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, EOFError):  # click turns EOFError into Abort; here it is a truncated file
            return _internal(exc.__cause__)
        return _fail(interrupted_message(argv), 130)
    except KeyboardInterrupt:  # outside click's own handling (e.g. while the group is left)
        return _fail(interrupted_message(argv), 130)
    except click.ClickException as exc:  # bad options: one line too, and where the help is
        ctx = getattr(exc, "ctx", None)
        hint = f" (`{ctx.command_path} --help` lists the options)" if ctx is not None else ""
        return _fail(exc.format_message() + hint, exc.exit_code if exc.exit_code else 2)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except MemoryError:
        return _fail("out of memory; try a smaller --batch-size, or fewer --rows", 1)
    except OSError as exc:
        return _fail(_os_error(exc), 2)
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        return _internal(exc)
    return 0


MAX_MESSAGE = 1000  # characters: a message is one line, whatever a bad file held


def _fail(message: str, code: int) -> int:
    text = " ".join(message.split())  # one line
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE - 3] + "..."
    click.echo(f"lightfmp: error: {text}", err=True)
    return code


def _os_error(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else None
    what = exc.strerror or exc.__class__.__name__
    return f"{where}: {what}" if where is not None else f"cannot read or write a file: {what}"


def _internal(exc: BaseException) -> int:
    if os.environ.get("LIGHTFMP_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    first = (str(exc).splitlines() or [""])[0]
    return _fail(f"internal error: {type(exc).__name__}: {first} (LIGHTFMP_DEBUG=1 prints the traceback)", 1)


def interrupted_message(argv: list[str] | None) -> str:
    """What to say on Ctrl-C: where the last checkpoint is and the command that resumes from it."""
    from lightfmp.cli.common import active_checkpoint

    path = active_checkpoint()
    if path is None or not path.is_file():
        return "interrupted" + ("; no checkpoint was written yet, so run the command again" if path else "")
    args = list(sys.argv[1:] if argv is None else argv)
    if "--resume" not in args:
        args.append("--resume")
    import shlex

    return (f"interrupted; the last checkpoint is {path}; continue with: "
            f"lightfmp {' '.join(shlex.quote(a) for a in args)}")
