"""Text encodings at process and file boundaries: what ztbkit writes, and how it reads what others wrote.

Policy users rely on:

* **Output.** ``ztb`` writes UTF-8 when its stdout/stderr go to a file or a pipe (a cron or cronish
  log, Task Scheduler, ``> log``), whatever the locale or ``PYTHONIOENCODING`` says, so a nightly on
  Japanese Windows (ANSI code page cp932) never dies on ``¥``, ``–`` or ``▁``. On a console the
  console's own encoding is kept and a character it cannot show prints as ``\\uXXXX`` instead of
  raising.
* **Children** started by ztbkit (report workers, and through them the Jupyter kernels) run with
  ``PYTHONUTF8=1`` and ``PYTHONIOENCODING=utf-8``; their output is decoded as UTF-8, falling back to
  the locale's encoding for bytes that are not UTF-8 (a child that ignores both variables).
* **Files written by others** (a tariff TOML, the bot's logs): a UTF-8 byte-order mark is accepted
  (Notepad writes one); text that is not UTF-8 is read as cp932 (Windows' Japanese "ANSI"), and the
  caller is told so it can say so.
"""

from __future__ import annotations

import io
import locale
import os
import sys
from collections.abc import Mapping
from typing import TextIO

UTF8_BOM = b"\xef\xbb\xbf"
#: The legacy encoding tried when a file is not UTF-8: Windows' Japanese ANSI code page.
LEGACY_ENCODING = "cp932"


def setup_stdio(streams: tuple[TextIO | None, ...] | None = None) -> None:
    """Make ``streams`` (default: stdout and stderr) safe for any text ztbkit prints.

    Not a console: re-encode as UTF-8 (lone surrogates from undecodable file names become
    ``\\udcxx`` escapes). A console: keep its encoding, but escape what it cannot show.
    A stream that is missing (``pythonw``) or not a real text stream is left alone.
    """
    for stream in streams if streams is not None else (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper):
            continue
        try:
            console = stream.isatty()
        except (OSError, ValueError):
            continue
        if console:
            stream.reconfigure(errors="backslashreplace")
        else:
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a Python child of ztbkit: ``base`` (default ``os.environ``) in UTF-8 mode.

    ``PYTHONIOENCODING`` is set too because it outranks UTF-8 mode for the standard streams.
    """
    env = dict(os.environ if base is None else base)
    env["PYTHONUTF8"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def decode_output(data: bytes) -> str:
    """A child's output: UTF-8 when it is, else the locale's encoding (undecodable bytes → U+FFFD)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(locale.getpreferredencoding(False) or "utf-8", errors="replace")


def decode_text(data: bytes) -> tuple[str, str | None]:
    """Text of a file written by someone else, and the legacy encoding used if it was not UTF-8.

    A leading UTF-8 byte-order mark is dropped. Not UTF-8 → decoded as cp932; the second value is
    then ``"cp932"`` so the caller can note it. Raises ``UnicodeDecodeError`` when neither fits.
    """
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return data.decode(LEGACY_ENCODING), LEGACY_ENCODING


def decode_line(data: bytes) -> tuple[str, bool]:
    """One line of a log: UTF-8, else cp932, else UTF-8 with U+FFFD; True when cp932 was used.

    Per line, because a log written partly by a UTF-8 process and partly by a cp932 one is common.
    """
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(LEGACY_ENCODING), True
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), False
