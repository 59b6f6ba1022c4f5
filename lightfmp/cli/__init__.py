"""`lightfmp` command line: one module per verb, loaded only when that verb runs.

Every verb module defines a click command named ``command``. Errors a user can fix
(``InputError``) become one line on stderr and exit status 2, never a traceback; a diverged
training run (``NonFiniteLossError``) is one line and exit status 1.
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
    "report": "Tables (and plots) over run folders, like the paper's Tables 2 and 3.",
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
    code = _run(argv)
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


def _run(argv: list[str] | None) -> int:
    """Run one verb; the process exit status (0, 1 diverged, 2 bad input, 130 aborted)."""
    try:
        cli.main(args=argv, prog_name="lightfmp", standalone_mode=False)
    except InputError as exc:
        click.echo(f"lightfmp: error: {exc}", err=True)
        return 2
    except NonFiniteLossError as exc:
        click.echo(f"lightfmp: error: {exc}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("lightfmp: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0
