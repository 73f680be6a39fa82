"""Shared pieces of the ``ztb`` command: the group, error handling, warnings, common options."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from ztbkit import __version__
from ztbkit.cli.i18n import (
    VERSION_OPTION_TEXT,
    TranslatedCommand,
    preread_language,
    route_click_messages,
    safe_gettext,
)
from ztbkit.core.errors import ZtbError
from ztbkit.core.ids import safe_repr
from ztbkit.core.jsonread import Problem
from ztbkit.locale import ENV as LANG_ENV
from ztbkit.locale import LANGUAGES, _, use_language
from ztbkit.locale import reset as reset_language

MAX_WARNINGS = 10
#: Where the group keeps the --lang found on the command line before parsing (ctx.meta).
PREREAD = "ztbkit.lang"

# Before any click decorator below runs: click's own words go through ztbkit's catalogue.
route_click_messages()


def _check_correlation_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from ztbkit.core.ids import check_component

    return value if value is None else check_component(value, param.opts[0])


def _set_language(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--lang`` on the group or on a command: speak it from now on, and hand it to every process
    this one starts (report kernels, the scheduler's commands) through ``ZTB_LANG``."""
    if value:
        _export_language(ctx, use_language(value))


def _export_language(ctx: click.Context, lang: str) -> None:
    """``ZTB_LANG=lang`` while the command runs (its children inherit it), as it was afterwards: a
    program that runs several commands in one process (tests, an embedding tool) keeps its own."""
    old = os.environ.get(LANG_ENV)
    os.environ[LANG_ENV] = lang

    def restore() -> None:
        # The language itself stays until ZtbGroup.main returns: the error line and click's usage
        # text are written after the command's context has closed, and must speak the same language.
        if old is None:
            os.environ.pop(LANG_ENV, None)
        else:
            os.environ[LANG_ENV] = old

    ctx.call_on_close(restore)


def lang_option() -> click.Option:
    """The ``--lang`` option every command takes (also accepted before the command name)."""
    return click.Option(
        ["--lang"], type=click.Choice(LANGUAGES, case_sensitive=False), expose_value=False, is_eager=True,
        callback=_set_language,
        help="Language of what people read (reports, alerts, summaries, errors): ja or en. "
        "Default: $ZTB_LANG, else the locale (ja_JP.* → ja), else en. Machine-read output never changes.",
    )  # fmt: skip


class ZtbCommand(TranslatedCommand):
    """A ``ztb`` command: help shown in the run's language (:mod:`ztbkit.cli.i18n`)."""


class ZtbGroup(TranslatedCommand, click.Group):
    """A click group that turns ZtbError into ``ztb: error: ...`` and its exit code.

    The language is settled before click parses anything (``--lang`` anywhere before ``--``, else
    ``ZTB_LANG``, else the locale), so click's usage errors and help come out in it; commands made
    with ``@group.command`` are :class:`ZtbCommand`, subgroups ``ZtbGroup``.

    Any other OSError (a full disk, a file another program holds open on Windows, a folder without
    write permission) is one line naming the path, exit 2, never a traceback; so is a RecursionError
    (a path or value nested deeper than Python's own recursion). A broken pipe is left to click,
    which exits quietly.

    Every command's ``--correlation-id`` is checked with :func:`ztbkit.core.ids.check_component` (one
    path component, else exit 2), so no command can be handed an id that walks out of its folder.
    """

    command_class = ZtbCommand
    group_class = type

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        if parent is None:  # the whole command line, before click reads a word of it
            chosen = preread_language(args)
            with contextlib.suppress(ZtbError):  # a bad ZTB_LANG is reported by cli() below, exit 2
                use_language(chosen)
            ctx = super().make_context(info_name, args, parent, **extra)
            ctx.meta[PREREAD] = chosen
            return ctx
        return super().make_context(info_name, args, parent, **extra)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        finally:  # a program running several commands in one process keeps its own language
            reset_language()

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        for param in cmd.params:
            if param.name == "correlation_id" and param.callback is None:
                param.callback = _check_correlation_id
        if not any(p.name == "lang" for p in cmd.params):  # every command takes --lang
            cmd.params.append(lang_option())
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
        except RecursionError:  # the last net: a path or value nested deeper than any reader copes with
            click.echo("ztb: error: " + _("a path or file given is nested too deeply to handle"), err=True)
            ctx.exit(2)


def describe_os_error(exc: OSError) -> str:
    """``path: reason`` (``src -> dst: reason`` for a rename) for an OSError, on one line."""
    # The system's own words, in the reader's language where the catalogue has them (OS_REASONS).
    reason = safe_gettext(exc.strerror) if exc.strerror else str(exc) or type(exc).__name__
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
        click.echo("warning: " + _("... and {n} more (use -v to list all)").format(n=len(issues) - len(shown)),
                   err=True)  # fmt: skip


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
            self.fail(
                _("ztb {command} needs a local folder, not a URL").format(command=ctx.command.name),
                param,
                ctx,
            )
        return str(value)


#: Commands whose --artifacts-dir must be a local folder (they stat, lock or write inside sessions).
LOCAL_ONLY = frozenset({"doctor", "cost", "gates-alert", "compat", "diff", "note", "tag"})


LOCATION = Location()


def followed(folder: Any) -> Any:
    """``folder`` itself, or its real path when it is a symlink (a local ``artifacts -> /mnt/bot``).

    Writes never go through a folder that is a link (:mod:`ztbkit.core.fsio`): a default output
    inside ``--artifacts-dir`` is therefore placed in the folder the link names, resolved once here,
    where the user gave it (compat checks the same resolved path)."""
    from ztbkit.data.storage import is_remote

    if is_remote(folder) or not os.path.islink(folder):
        return folder
    return Path(os.path.realpath(folder))


ARTIFACTS_OPT = click.option(
    "--artifacts-dir", type=LOCATION, default=Path("artifacts"), show_default=True,
    help="Root of the bot's artifact tree (one folder per session).",
)  # fmt: skip
SCHEDULER_STATE_OPT = click.option(
    "--state-file", type=click.Path(path_type=Path), default=None,
    help="The scheduler's state file (ztb cronish writes it; ztb doctor checks it).  [default: "
    "cronish-state.json in ztbkit's folder: $ZTB_HOME, systemd's $STATE_DIRECTORY, else <state-dir>/.ztb]",
)  # fmt: skip
STATE_DIR_OPT = click.option(
    "--state-dir", type=click.Path(path_type=Path), default=Path("."), envvar="ZTB_STATE_DIR", show_default=True,
    help="The bot's state folder (trade-state.json...); ztbkit keeps its outbox in <state-dir>/.ztb/ "
    "(unless ZTB_HOME or systemd's STATE_DIRECTORY names ztbkit's folder). Env ZTB_STATE_DIR.",
)  # fmt: skip
OUT_DIR_OPT = click.option(
    "--out-dir", type=LOCATION, default=Path("outputs"), show_default=True,
    help="Reports go to <out-dir>/<YYYY-MM-DD>/ (NAME.html, .md and the executed .ipynb).",
)  # fmt: skip
VERBOSE_OPT = click.option(
    "-v", "--verbose", is_flag=True, help="List every warning, not just the first ten."
)


@click.group(cls=ZtbGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ztb", help=VERSION_OPTION_TEXT)  # translated when shown
@click.option(
    "--lang", type=click.Choice(LANGUAGES, case_sensitive=False), is_eager=True,
    help="ja or en for everything people read (default: $ZTB_LANG, else the locale, else en).",
)  # fmt: skip
def cli(lang: str | None) -> None:
    """ztbkit: the operations side of zaif-trade-bot.

    \b
    Quick start:
      ztb demo --out-dir demo                   build a realistic demo artifact tree
      ztb nightly --artifacts-dir demo/artifacts --out-dir outputs
      ztb trends --artifacts-dir artifacts      write artifacts/trends.csv

    Language: --lang ja|en (before or after the command name), else ZTB_LANG, else the locale
    (ja_JP.* → Japanese), else English. Machine-read output (trends CSV, JSON keys, exit codes) never changes.

    Exit codes: 0 ok, 1 the job found a problem, 2 bad usage or input.
    """
    # Decided afresh by every invocation: --lang (here, or after the command name: read before
    # parsing), else ZTB_LANG or the locale (a bad ZTB_LANG stops here, exit 2).
    ctx = click.get_current_context()
    lang = lang or ctx.meta.get(PREREAD)
    use_language(lang)
    if lang:
        _export_language(ctx, use_language(lang))


def yen(amount: float) -> str:
    from ztbkit.core.formatting import yen as fmt

    return fmt(amount)
