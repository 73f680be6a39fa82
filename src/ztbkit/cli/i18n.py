"""The ``ztb`` command in the user's language: click's own words, every command's help, and the
language known before click parses a single argument.

* **click's words** ("Usage:", "Options:", "Error: No such option", "Try 'ztb nightly --help' for
  help.", "Show this message and exit.") are marked by click with the standard library's
  ``gettext.gettext``, bound into each of its modules at import. The standard library picks the
  language from ``LANGUAGE``/``LC_ALL``/``LANG`` and one global text domain, not from ``--lang``, so
  :func:`route_click_messages` points those bindings at :func:`ztbkit.locale.gettext`: click's
  messages are looked up in ztbkit's catalogue (their Japanese entries are extracted from the
  installed click's own source by ``make messages``) in the language ztbkit chose. Nothing else in
  the process changes (no global text domain, no ``LANGUAGE`` handed to child processes), and a
  test fails if a click module keeps a binding to the standard library's gettext.
* **Help** is written in English in the code (docstrings, ``help=``), as before, and translated
  when shown (:class:`TranslatedCommand`): paragraph by paragraph, so editing one paragraph leaves
  the others' Japanese in place. In a ``\\b`` block (click's "keep these lines"), a line at the
  block's own indent ("Examples:") is a message; an indented line is a command line and stays as it
  is, except a description after three or more spaces. :func:`help_messages` walks the ``ztb``
  group through the very same code, so the catalogue has exactly the texts the screens look up.
* **The language before parsing**: :func:`preread_language` finds ``--lang`` anywhere before ``--``,
  so ``ztb nightly --bogus --lang ja`` says "'--bogus' というオプションはありません。" — the usage
  error is raised by click before any option callback could run.
* A bad ``ZTB_LANG`` never turns click's words or a help screen into a traceback: they are English,
  and the command then refuses the variable (exit 2) as before.
"""

from __future__ import annotations

import gettext as stdlib_gettext
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import click

from ztbkit.cli.helpformat import Context
from ztbkit.core.errors import ZtbError
from ztbkit.locale import LANGUAGES, current_language, gettext, ngettext

#: click's help for --help and --version (the same msgids as in click's source, so one entry each).
HELP_OPTION_TEXT = "Show this message and exit."
VERSION_OPTION_TEXT = "Show the version and exit."
#: A description after a command line in a ``\\b`` block: three or more spaces, then words.
_DESCRIPTION = re.compile(r"^(?P<command>\s+\S.*?\s{3,})(?P<text>\S.*)$")


def safe_gettext(message: str) -> str:
    """``message`` in the run's language, English when ZTB_LANG is bad (never an exception)."""
    # A bad ZTB_LANG must not turn click's own error into a traceback: click speaks English and the
    # command then reports the bad variable (exit 2).
    try:
        return gettext(message)
    except ZtbError:
        return message


def _language() -> str:
    try:
        return current_language()
    except ZtbError:
        return "en"


def _safe_ngettext(singular: str, plural: str, n: int) -> str:
    try:
        return ngettext(singular, plural, n)
    except ZtbError:
        return singular if n == 1 else plural


def route_click_messages() -> list[str]:
    """Point click's ``_``/``gettext``/``ngettext`` at ztbkit's catalogue; the modules rebound."""
    ours = {id(stdlib_gettext.gettext): safe_gettext, id(stdlib_gettext.ngettext): _safe_ngettext}
    routed = []
    # click loads these lazily (the pager and editor, shell completion, the Windows console): they are
    # imported now, or their binding, made later, would keep the standard library's gettext. (Not
    # every module of click: click.testing alone costs 40 ms at every start.)
    lazy = ["click._termui_impl", "click.shell_completion"] + (
        ["click._winconsole"] if sys.platform == "win32" else []
    )
    for name in lazy:
        importlib.import_module(name)
    for name, module in sorted(sys.modules.items()):
        if name != "click" and not name.startswith("click."):
            continue
        for attr, value in list(vars(module).items()):
            if id(value) in ours:
                setattr(module, attr, ours[id(value)])
                routed.append(f"{name}.{attr}")
    return routed


def unrouted_click_bindings() -> list[str]:
    """Names in any loaded click module still bound to the standard library's gettext (should be none)."""
    stdlib = (stdlib_gettext.gettext, stdlib_gettext.ngettext, stdlib_gettext.dgettext)
    return sorted(
        f"{name}.{attr}"
        for name, module in list(sys.modules.items())
        if name == "click" or name.startswith("click.")
        for attr, value in vars(module).items()
        if any(value is f for f in stdlib)
    )


def preread_language(args: Sequence[str]) -> str | None:
    """The last ``--lang X`` / ``--lang=X`` before ``--`` in ``args`` when X is a language, else None
    (a bad value is left for click to report)."""
    found = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        value = (
            args[i + 1]
            if arg == "--lang" and i + 1 < len(args)
            else arg[7:]
            if arg.startswith("--lang=")
            else None
        )
        if value is not None and value.lower() in LANGUAGES:
            found = value.lower()
    return found


def translate_help(text: str, translate: Callable[[str], str]) -> str:
    """``text`` (a cleaned docstring or help) with each message replaced by ``translate(message)``:
    each paragraph; in a ``\\b`` block each line at the block's indent and each description after a
    command line."""
    out = []
    for par in text.split("\n\n"):
        if not par.strip():
            out.append(par)
        elif par.startswith("\b"):
            out.append("\n".join(_translate_block_line(line, translate) for line in par.split("\n")))
        else:
            out.append(translate(par))
    return "\n\n".join(out)


def _translate_block_line(line: str, translate: Callable[[str], str]) -> str:
    if not line.strip() or line == "\b":
        return line
    if not line[0].isspace():
        return translate(line)
    m = _DESCRIPTION.match(line)
    return m["command"] + translate(m["text"]) if m else line


def _help_of(cmd: click.Command) -> str:
    return inspect.cleandoc(cmd.help).partition("\f")[0] if cmd.help else ""


class TranslatedCommand(click.Command):
    """A click command whose help, short help, epilog and option help are shown in the current
    language (English text from the code, Japanese from the catalogue), wrapped for the terminal.
    A bad ZTB_LANG shows English help (the command itself then refuses it, exit 2)."""

    context_class = Context

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.deprecated:  # none is; click's own label then
            super().format_help_text(ctx, formatter)
            return
        text = translate_help(_help_of(self), safe_gettext)
        if text:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(text)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.epilog:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(translate_help(inspect.cleandoc(self.epilog), safe_gettext))

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        opts = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or isinstance(param, click.Argument):
                continue
            first, second = record
            help_text = getattr(param, "help", None)
            # click appends "[default: …; required]" (already in the language) after the help itself.
            if help_text and second.startswith(help_text):
                second = safe_gettext(help_text) + second[len(help_text) :]
            opts.append((first, second))
        if opts:
            with formatter.section(safe_gettext("Options")):
                formatter.write_dl(opts)
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        # click makes the help option once per command, its help translated at that moment, and
        # keeps it: give it click's English text back, translated each time it is shown.
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_OPTION_TEXT
        return option

    def get_short_help_str(self, limit: int = 45) -> str:
        if _language() == "en":  # exactly click's
            return super().get_short_help_str(limit)
        if self.short_help:
            return safe_gettext(inspect.cleandoc(self.short_help)).strip()
        # The first sentence of the translated first paragraph (a Japanese one ends at 。).
        first = translate_help(_help_of(self), safe_gettext).split("\n\n")[0]
        if first.startswith("\b"):
            return super().get_short_help_str(limit)
        head, dot, _rest = first.partition("。")
        return " ".join((head + dot).split())


def help_messages(group: click.Group) -> Iterator[tuple[str, str]]:
    """Every help message the ``ztb`` screens look up, with where it comes from (``ztb nightly
    --out-dir``), walking ``group`` and its subgroups."""

    def walk(cmd: click.Command, path: str) -> Iterator[tuple[str, str]]:
        found: list[str] = []

        def collect(message: str) -> str:
            found.append(message)
            return message

        translate_help(_help_of(cmd), collect)
        if cmd.epilog:
            translate_help(inspect.cleandoc(cmd.epilog), collect)
        if cmd.short_help:
            collect(inspect.cleandoc(cmd.short_help))
        yield from ((m, path) for m in found)
        for param in cmd.params:
            help_text = getattr(param, "help", None)
            if help_text:
                yield help_text, f"{path} {param.opts[0]}"
        if isinstance(cmd, click.Group):
            for name, sub in sorted(cmd.commands.items()):
                yield from walk(sub, f"{path} {name}")

    yield from walk(group, group.name or "ztb")


def extract_all(group: click.Group) -> Any:
    """The catalogue the code asks for, as ``make messages`` builds it: the package's messages,
    click's, and the help of ``group`` (``ztbkit.cli.cli``, every command registered) and its
    commands. tests/test_locale.py compares the committed .po with it."""
    from ztbkit.locale.catalog import click_messages, extract

    return extract(extra=[*click_messages(), *help_messages(group)])
