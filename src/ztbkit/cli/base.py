"""Shared pieces of the ``ztb`` command: the group, error handling, warnings, common options."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from ztbkit import __version__
from ztbkit.core.errors import ZtbError
from ztbkit.core.ids import safe_repr
from ztbkit.core.jsonread import Problem

MAX_WARNINGS = 10


def _check_correlation_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from ztbkit.core.ids import check_component

    return value if value is None else check_component(value, param.opts[0])


class ZtbGroup(click.Group):
    """A click group that turns ZtbError into ``ztb: error: ...`` and its exit code.

    Any other OSError (a full disk, a file another program holds open on Windows, a folder without
    write permission) is one line naming the path, exit 2, never a traceback. A broken pipe is
    left to click, which exits quietly.

    Every command's ``--correlation-id`` is checked with :func:`ztbkit.core.ids.check_component` (one
    path component, else exit 2), so no command can be handed an id that walks out of its folder.
    """

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        for param in cmd.params:
            if param.name == "correlation_id" and param.callback is None:
                param.callback = _check_correlation_id
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZtbError as exc:
            click.echo(f"ztb: error: {safe_repr(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            click.echo(f"ztb: error: {safe_repr(describe_os_error(exc))}", err=True)
            ctx.exit(2)


def describe_os_error(exc: OSError) -> str:
    """``path: reason`` (``src -> dst: reason`` for a rename) for an OSError, on one line."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = [os.fsdecode(f) for f in (exc.filename, exc.filename2) if f is not None]
    text = f"{' -> '.join(where)}: {reason}" if where else reason
    return " ".join(text.split())


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"ztb: error: {safe_repr(message)}", err=True)
    sys.exit(code)


def warn_issues(issues: Sequence[Problem], verbose: bool = False) -> None:
    """Print problems as warnings on stderr, the first few unless ``verbose``."""
    shown = issues if verbose else issues[:MAX_WARNINGS]
    for p in shown:
        click.echo(f"warning: {safe_repr(str(p))}", err=True)  # a planted folder name cannot forge lines
    if len(issues) > len(shown):
        click.echo(f"warning: ... and {len(issues) - len(shown)} more (use -v to list all)", err=True)


def progress_printer(label: str, min_total: int = 2000) -> Callable[[int, int], None]:
    """A progress callback printing ``label: done/total`` to stderr for long jobs only."""

    def show(done: int, total: int) -> None:
        if total >= min_total:
            click.echo(f"{label}: {done}/{total}", err=True)

    return show


class Location(click.ParamType[Any]):
    """A local path (→ Path; ``file://`` URLs too) or an fsspec URL such as ``s3://bucket/prefix`` (→ str)."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ztbkit.data.storage import is_remote, local_path

        if isinstance(value, Path) or not is_remote(str(value)):
            return Path(local_path(str(value)))
        if ctx is not None and ctx.command.name in LOCAL_ONLY:  # they inspect or write a session's folder
            self.fail(f"ztb {ctx.command.name} needs a local folder, not a URL", param, ctx)
        return str(value)


#: Commands whose --artifacts-dir must be a local folder (they stat, lock or write inside sessions).
LOCAL_ONLY = frozenset({"doctor", "cost", "gates-alert", "compat", "diff", "note", "tag"})


LOCATION = Location()

ARTIFACTS_OPT = click.option(
    "--artifacts-dir", type=LOCATION, default=Path("artifacts"), show_default=True,
    help="Root of the bot's artifact tree (one folder per session).",
)  # fmt: skip
SCHEDULER_STATE_OPT = click.option(
    "--state-file", type=click.Path(path_type=Path), default=Path(".ztb/cronish-state.json"), show_default=True,
    help="The scheduler's state file (ztb cronish writes it; ztb doctor checks it).",
)  # fmt: skip
STATE_DIR_OPT = click.option(
    "--state-dir", type=click.Path(path_type=Path), default=Path("."), envvar="ZTB_STATE_DIR", show_default=True,
    help="The bot's state folder (trade-state.json...); ztbkit keeps its outbox in <state-dir>/.ztb/. "
    "Env ZTB_STATE_DIR.",
)  # fmt: skip
OUT_DIR_OPT = click.option(
    "--out-dir", type=LOCATION, default=Path("outputs"), show_default=True,
    help="Reports go to <out-dir>/<YYYY-MM-DD>/ (NAME.html, .md and the executed .ipynb).",
)  # fmt: skip
VERBOSE_OPT = click.option(
    "-v", "--verbose", is_flag=True, help="List every warning, not just the first ten."
)


@click.group(cls=ZtbGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ztb")
def cli() -> None:
    """ztbkit: the operations side of zaif-trade-bot.

    \b
    Quick start:
      ztb demo --out-dir demo                   build a realistic demo artifact tree
      ztb nightly --artifacts-dir demo/artifacts --out-dir outputs
      ztb trends --artifacts-dir artifacts      write artifacts/trends.csv

    Exit codes: 0 ok, 1 the job found a problem, 2 bad usage or input.
    """


def yen(amount: float) -> str:
    from ztbkit.core.formatting import yen as fmt

    return fmt(amount)
