"""The ``ztb`` command. Each command is a thin call into the library.

Exit codes: 0 success; 1 the job found a problem (a FAIL, an undelivered alert, a failed step);
2 bad usage or bad input that stopped the command; 3 a report notebook's kernel died or timed out.
Errors are one line naming the file or flag; user errors never print a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from ztbkit.charset import setup_stdio
from ztbkit.cli import alerting, analysis, data, kernel, money, notebooks, ops  # noqa: F401  (each registers its commands)
from ztbkit.cli.base import cli

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``ztb``, ``python -m ztbkit``).

    Output redirected to a file or pipe is UTF-8 whatever the locale (see :mod:`ztbkit.charset`).
    """
    setup_stdio()
    cli.main(args=list(argv) if argv is not None else None, prog_name="ztb")
