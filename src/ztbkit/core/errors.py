"""The one error root of ztbkit.

Every error ztbkit raises on purpose is a :class:`ZtbError`. Subclasses also inherit the builtin
they resemble, so ``except FileNotFoundError`` keeps working for callers who never heard of ztbkit.
The CLI turns a ``ZtbError`` into a one-line message and exit code :attr:`ZtbError.exit_code`
(2: bad usage or bad input that stopped the command) — never a traceback.
"""

from __future__ import annotations


class ZtbError(Exception):
    """Root of every error ztbkit raises deliberately."""

    exit_code: int = 2


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
