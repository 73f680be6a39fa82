"""The user's notebook workspace: copies of the packaged report notebooks to open in JupyterLab.

Policy (users depend on it):

* The nightly, ``ztb report`` and ``ztb dashboard`` never run these copies (they run the packaged
  ones, :mod:`ztbkit.reports.notebooks`): saving a copy in JupyterLab cannot change a nightly report.
* :func:`refresh_workspace` makes a missing copy, and refreshes a copy the user has not edited since
  ztbkit wrote it (so a new ztbkit's notebooks reach the workspace). A copy the user edited is never
  overwritten: it is kept, and said. What ztbkit wrote is remembered by hash in
  ``.ztb-notebooks.json`` inside the workspace; a copy that file does not know is the user's.
* Writes are atomic; an unreadable or foreign manifest only makes every existing copy count as the
  user's (kept), never lost.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ztbkit.core.errors import OutputPathError
from ztbkit.core.fsio import atomic_write_bytes, atomic_write_json, prepare_output_dir
from ztbkit.core.jsonread import read_json_if_exists
from ztbkit.locale import _
from ztbkit.reports.notebooks import NOTEBOOKS, find_notebook

MANIFEST = ".ztb-notebooks.json"


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """What happened to one notebook copy: ``created``, ``refreshed``, ``current`` or ``kept``."""

    name: str
    path: Path
    action: str

    def line(self) -> str:
        why = {
            "created": _("created"),
            "refreshed": _("refreshed to this ztbkit's version"),
            "current": _("up to date"),
            "kept": _("kept: you edited it (the nightly still runs the packaged copy)"),
        }[self.action]
        return f"{self.path.name}: {why}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(folder: Path) -> dict[str, str]:
    read = read_json_if_exists(folder / MANIFEST, max_bytes=64 * 1024)
    if read is None or not read.ok or not isinstance(read.value, dict):
        return {}
    written = read.value.get("written")
    if not isinstance(written, dict):
        return {}
    return {k: v for k, v in written.items() if isinstance(k, str) and isinstance(v, str)}


def refresh_workspace(folder: str | os.PathLike[str]) -> list[CopyOutcome]:
    """Make or refresh the copies of the report notebooks in ``folder`` (see the module policy).

    Raises :class:`~ztbkit.core.errors.OutputPathError` naming the folder when it cannot be made.
    """
    target = prepare_output_dir(Path(folder), shown=os.fspath(folder))
    written = _manifest(target)
    outcomes: list[CopyOutcome] = []
    for name in NOTEBOOKS:
        shipped = find_notebook(name).read_bytes()
        path = target / f"{name}.ipynb"
        try:
            current = path.read_bytes() if path.exists() else None
        except OSError as exc:
            raise OutputPathError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if current is None:
            action = "created"
        elif current == shipped:
            action = "current"
        elif written.get(name) == _digest(current):
            action = "refreshed"  # ztbkit wrote it and nobody edited it since
        else:
            outcomes.append(CopyOutcome(name, path, "kept"))
            continue
        if action != "current":
            atomic_write_bytes(path, shipped)
        written[name] = _digest(shipped)
        outcomes.append(CopyOutcome(name, path, action))
    atomic_write_json(target / MANIFEST, {"written": written})
    return outcomes


def workspace_summary(outcomes: list[CopyOutcome]) -> str:
    """One line: how many copies were made, refreshed, kept."""
    words = {"created": _("{n} created"), "refreshed": _("{n} refreshed"), "current": _("{n} up to date"),
             "kept": _("{n} kept")}  # fmt: skip
    counts = {a: sum(o.action == a for o in outcomes) for a in words}
    parts = [words[a].format(n=n) for a, n in counts.items() if n]
    return _(", ").join(parts) or _("no notebooks")
