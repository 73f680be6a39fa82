"""ztb kernel install: register this Python as the "Python (ztbkit)" Jupyter kernel."""

from __future__ import annotations

import sys

import click

from ztbkit.cli.base import ZtbGroup, cli, fail
from ztbkit.locale import _

#: The kernel name reports look for first (ztbkit.reports.kernel.kernel_name) and the name users see.
KERNEL_NAME = "ztbkit"
DISPLAY_NAME = "Python (ztbkit)"


def in_virtual_env() -> bool:
    """True inside a venv/virtualenv, whose prefix the user owns."""
    return sys.prefix != getattr(sys, "base_prefix", sys.prefix)


@cli.group(cls=ZtbGroup)
def kernel() -> None:
    """The Jupyter kernel that runs the report notebooks."""


@kernel.command("install")
@click.option(
    "--user", "where", flag_value="user", help="Install for your user (Jupyter's user data folder)."
)
@click.option(
    "--sys-prefix",
    "where",
    flag_value="sys-prefix",
    help="Install into this Python's prefix (the venv or conda env), next to ztbkit.",
)
def kernel_install(where: str | None) -> None:
    """Register this Python, with ztbkit in it, as the Jupyter kernel "Python (ztbkit)".

    Reports (ztb report, ztb nightly, ztb dashboard) and JupyterLab then run the notebooks with the
    Python ztbkit is installed in, not whichever "python3" kernel happens to exist. Default:
    --sys-prefix inside a virtual environment, else --user. Running it again replaces the kernel.
    `make setup` does this for you; pip and Windows users run it once after `pip install`.

    \b
    Examples:
      ztb kernel install                 (inside the venv you installed ztbkit into)
      ztb kernel install --user          (a JupyterLab installed elsewhere sees it too)
    """
    try:
        from ipykernel.kernelspec import install
    except ImportError:
        fail(_("ipykernel is not installed in this Python; run: python -m pip install ipykernel"))
    where = where or ("sys-prefix" if in_virtual_env() else "user")
    prefix = sys.prefix if where == "sys-prefix" else None
    path = install(user=where == "user", prefix=prefix, kernel_name=KERNEL_NAME, display_name=DISPLAY_NAME)
    click.echo(f'installed kernel "{DISPLAY_NAME}" ({KERNEL_NAME}, {sys.executable}) in {path}')
