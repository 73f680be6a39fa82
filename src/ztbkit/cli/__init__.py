"""The front door: the ``ztb`` command (thin click commands over the library) and ``ztb compat``,
the JSON protocol that runs them for other programs (``compat``, ``allowlist``).

May import: every layer. Nothing in the library imports it.

Exit codes: 0 success; 1 the job found a problem (a FAIL, an undelivered alert, a failed step);
2 bad usage or bad input that stopped the command; 3 a report notebook's kernel died or timed out.
Errors are one line naming the file or flag; user errors never print a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from ztbkit.cli import alerting, analysis, data, kernel, money, notebooks, ops, runs, watching  # noqa: F401  (each registers its commands)
from ztbkit.cli.base import cli
from ztbkit.core.charset import setup_stdio

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``ztb``, ``python -m ztbkit``).

    Output redirected to a file or pipe is UTF-8 whatever the locale (see :mod:`ztbkit.core.charset`).
    """
    setup_stdio()
    cli.main(args=list(argv) if argv is not None else None, prog_name="ztb")
