"""The report notebooks: the five that ship inside the package, and their parameters.

Policy: the nightly, ``ztb report`` and ``ztb dashboard`` always run the packaged copy (beside this
module, in ``notebooks/``), never a file a user can edit in JupyterLab; ``ztb lab`` gives the user
copies of their own (:mod:`ztbkit.reports.workspace`). A path ending in ``.ipynb`` runs that file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ztbkit.core.errors import UsageError
from ztbkit.locale import LazyText, lazy

NOTEBOOKS = ("dashboard", "trends", "budget", "cost", "compare")
#: Each report's page title, in the run's language (the heading inside comes from its view).
TITLES: dict[str, LazyText] = {
    "dashboard": lazy("Zaif Trade Bot Dashboard"),
    "trends": lazy("Trend Report"),
    "budget": lazy("Daily Budget"),
    "cost": lazy("Cost Report"),
    "compare": lazy("Compare Runs"),
}
#: Set by the report runner for every kernel it starts (the nightly, ztb report, ztb dashboard): the
#: views then ignore ``interactive=True`` with a note instead of exporting widget placeholders.
HEADLESS_ENV = "ZTB_HEADLESS"
#: The packaged notebooks (package data).
PACKAGED = Path(__file__).resolve().parent / "notebooks"


def find_notebook(name: str) -> Path:
    """The path of report notebook ``name`` (or of an .ipynb path given directly)."""
    if name.endswith(".ipynb"):
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"notebook {path} not found")
        return path
    if name not in NOTEBOOKS:
        raise UsageError(f"unknown report {name!r} (choose from {', '.join(NOTEBOOKS)})")
    path = PACKAGED / f"{name}.ipynb"
    if not path.is_file():  # a broken install: the package data is missing
        raise UsageError(
            f"notebook {path} not found: reinstall ztbkit (pip install --force-reinstall ztbkit)"
        )
    return path


def notebook_parameters(name: str) -> list[str] | None:
    """The names assigned in notebook ``name``'s cell tagged ``parameters`` (what ``-p`` may set); None
    when it has no such cell (papermill then injects the values at the top, unchecked)."""
    import ast

    nb = json.loads(find_notebook(name).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            tree = ast.parse(source if isinstance(source, str) else "".join(source))
            names: list[str] = []
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                names += [t.id for t in targets if isinstance(t, ast.Name)]
            return names
    return None


def check_parameters(names: Sequence[str], keys: Sequence[str]) -> None:
    """UsageError naming ``-p KEY`` when no notebook in ``names`` has that parameter: papermill would
    only inject it as an unused variable, so a typo would render the defaults and exit 0."""
    known = {n: notebook_parameters(n) for n in names}
    if any(params is None for params in known.values()):
        return
    for key in keys:
        if not any(key in (params or ()) for params in known.values()):
            choices = sorted({p for params in known.values() for p in params or ()})
            raise UsageError(
                f"-p {key}: not a parameter of {', '.join(names)} (choose from {', '.join(choices)})"
            )


def parse_parameter(value: str) -> Any:
    """``-p KEY VALUE``: JSON when it parses (numbers, true/false, null, lists), else the text."""
    try:
        return json.loads(value)
    except ValueError:
        return value
