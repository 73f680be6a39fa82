"""The one error root of ztbkit.

Every error ztbkit raises on purpose is a :class:`ZtbError`. Subclasses also inherit the builtin
they resemble, so ``except FileNotFoundError`` keeps working for callers who never heard of ztbkit.
The CLI turns a ``ZtbError`` into a one-line message and exit code :attr:`ZtbError.exit_code`
(2: bad usage or bad input that stopped the command) — never a traceback.

Messages in the reader's language: an error is raised with an English template and its values,
``UsageError("{flag}: {value} is not a number", flag="--kwh", value=text)``, and says itself
(``str(exc)``) in the language in use at that moment: the template is looked up in the catalogue
(``make messages`` extracts the first argument of every error class), then filled. The names
filled in (files, flags, values) are never translated. This layer imports nothing above it, so
:mod:`ztbkit.locale` installs the lookup (:func:`set_translator`) when it is imported; until then,
and for a template the catalogue lacks, the English text is shown.

Warnings are not errors but are read the same way: why a file was skipped is a :class:`Reason`
(a ``str`` holding the English sentence, plus its template and values), said in the reader's
language by :func:`shown` (``Problem.__str__`` calls it). Code that compares or logs the reason
keeps seeing English, whatever the language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _english(message: str) -> str:
    return message


_translator: list[Callable[[str], str]] = [_english]


class Text(str):
    """A value that is itself words (``N_("a folder")``): translated with the template when shown."""

    __slots__ = ()


def N_(message: str) -> Text:
    """Mark ``message`` for the catalogue; as an error's value it is shown in the reader's language."""
    return Text(message)


#: The operating system's own reasons, as Python gives them on Linux (glibc's wording) and macOS, that
#: the catalogue translates. Any other reason is shown as the system gave it (Windows already words
#: its reasons in the user's language).
OS_REASONS = (
    N_("Permission denied"), N_("Operation not permitted"), N_("No such file or directory"),
    N_("No space left on device"), N_("Read-only file system"), N_("Is a directory"), N_("Not a directory"),
    N_("File exists"), N_("File name too long"), N_("Too many levels of symbolic links"),
    N_("Disk quota exceeded"), N_("Input/output error"), N_("Device or resource busy"),
    N_("Directory not empty"), N_("Too many open files"), N_("Invalid cross-device link"),
)  # fmt: skip


def os_reason(exc: OSError) -> Text:
    """Why ``exc`` happened, in the operating system's words, translated when shown in an error
    (:data:`OS_REASONS`)."""
    return Text(exc.strerror or str(exc) or type(exc).__name__)


class Reason(str):
    """Why something is wrong, as a template and its values: the text is the English sentence (what
    logs, caches and comparisons see); :func:`shown` gives it in the reader's language.

    For the warnings a person reads off a long run (``skipped FILE: REASON``): the reason is made
    where the problem is found, before anyone knows who reads it, and said when printed.
    ``Reason("file is {size}, over the {limit} limit", size=..., limit=...)``."""

    __slots__ = ("template", "values")
    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Reason:
        self = super().__new__(cls, template.format(**values) if values else template)
        self.template, self.values = template, values
        return self

    def to_json(self) -> list[Any]:
        """``[template, {name: value}, [names of values that are words]]``: JSON that
        :meth:`from_json` turns back into the same reason (for the load cache and snapshots)."""
        words = [k for k, v in self.values.items() if isinstance(v, Text | Reason)]
        return [self.template, {k: _plain(v) for k, v in self.values.items()}, words]

    @classmethod
    def from_json(cls, data: Any) -> str:
        """The reason :meth:`to_json` wrote; a plain string (an older cache) stays as it is."""
        if isinstance(data, str):
            return data
        template, values, words = data
        return cls(template, **{k: _word(v) if k in words else v for k, v in values.items()})


def _word(data: Any) -> str:
    return Text(data) if isinstance(data, str) else Reason.from_json(data)


def _plain(value: Any) -> Any:
    if isinstance(value, Reason):
        return value.to_json()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def shown(text: str) -> str:
    """``text`` in the reader's language: a :class:`Reason` or a :class:`Text` from the catalogue,
    anything else as it is. A broken translation shows the English text."""
    translate = _translator[0]
    try:
        if isinstance(text, Reason):
            if not text.values:
                return translate(text.template)
            values = {k: shown(v) if isinstance(v, str) else v for k, v in text.values.items()}
            return translate(text.template).format(**values)
        return translate(text) if isinstance(text, Text) else text
    except Exception:  # a bad ZTB_LANG, a broken translation: the reason itself must still show
        return str.__str__(text)


def set_translator(translate: Callable[[str], str]) -> None:
    """Look error templates up with ``translate`` from now on (:mod:`ztbkit.locale` installs its ``_``)."""
    _translator[0] = translate


class ZtbError(Exception):
    """Root of every error ztbkit raises deliberately.

    ``ZtbError(template, **values)``: ``str()`` is the template in the current language, filled with
    ``values`` (``str.format``); ``args[0]`` stays the English text, for logs that must not change
    with the language. Without values the message is shown as given (a catalogue entry is still
    translated)."""

    exit_code: int = 2

    def __init__(self, message: str = "", /, **values: Any) -> None:
        self.template = message
        self.values = values
        super().__init__(message.format(**values) if values else message)

    def __str__(self) -> str:
        translate = _translator[0]
        try:
            text = translate(self.template) if self.template else self.template
            values = {k: shown(v) if isinstance(v, str) else v for k, v in self.values.items()}
            return text.format(**values) if values else text
        except Exception:  # a bad ZTB_LANG, a broken translation: the error itself must still show
            return str(self.args[0]) if self.args else self.template


class UsageError(ZtbError, ValueError):
    """A flag, argument or environment variable has a value ztbkit cannot use."""


class ArtifactError(ZtbError, ValueError):
    """An artifact file cannot be used (invalid JSON, wrong type, unknown shape)."""


class ArtifactsNotFoundError(ZtbError, FileNotFoundError):
    """The artifacts root (or a file a command needs) does not exist."""


class InputFileError(ZtbError, ValueError):
    """An input file named on the command line is missing, unreadable or malformed."""


class OutputPathError(ZtbError, OSError):
    """An output path cannot be written: a folder, a path under a file, a read-only place."""


class ParameterError(UsageError):
    """A notebook parameter (``artifacts_dir``…) has a value ztbkit cannot use.

    In a Jupyter kernel that imported :mod:`ztbkit.reports.views`, it is shown as one line, not a traceback.
    """
