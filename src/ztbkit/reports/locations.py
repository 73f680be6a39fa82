"""Where the notebooks look for things: the project root and the default artifacts folder.

Policy (README "In JupyterLab"):

* ``artifacts_dir`` empty → ``$ZTB_ARTIFACTS_DIR``, else the demo artifacts ``demo/artifacts`` in the
  project root (``make demo`` or ``make lab`` builds them; a notebook never builds them itself).
* A relative path resolves against the **project root**, never the kernel's working folder (which is
  ``notebooks/`` in JupyterLab and wherever cron started papermill at night). The project root is
  ``$ZTB_ROOT`` when set, else the source checkout ztbkit runs from (the folder with
  ``pyproject.toml`` and ``src/ztbkit/``), else — for an install from a wheel — the current folder.
* URLs (``s3://…``) and absolute paths are used as given; ``~`` is expanded.
* :func:`load_tree` is how a notebook loads its tree: a bad ``artifacts_dir`` is a
  :class:`~ztbkit.core.errors.ParameterError` naming that variable, and inside a Jupyter kernel every
  ``ZtbError`` shows as one line (``Name: message``), not a traceback; the cell still fails.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ztbkit.core.errors import ArtifactsNotFoundError, ParameterError, ZtbError
from ztbkit.data.artifacts import ArtifactTree, load_artifacts

ENV_ARTIFACTS = "ZTB_ARTIFACTS_DIR"
ENV_ROOT = "ZTB_ROOT"
DEMO_ARTIFACTS = Path("demo") / "artifacts"


def project_root() -> Path:
    """``$ZTB_ROOT``, else the source checkout of this ztbkit, else the current folder."""
    env = os.environ.get(ENV_ROOT, "").strip()
    if env:
        return Path(env).expanduser().absolute()
    checkout = Path(__file__).resolve().parents[3]  # <checkout>/src/ztbkit/reports/locations.py
    if (checkout / "pyproject.toml").is_file() and (checkout / "src" / "ztbkit").is_dir():
        return checkout
    return Path.cwd()


def resolve_artifacts_dir(value: str | os.PathLike[str] | None) -> str:
    """The artifacts folder a notebook parameter means (see the module policy)."""
    text = os.fspath(value).strip() if value is not None else ""
    if not text:
        text = os.environ.get(ENV_ARTIFACTS, "").strip()
    if not text:
        return str(project_root() / DEMO_ARTIFACTS)
    if "://" in text:
        return text
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else project_root() / path)


def _one_line_errors() -> None:
    """In a Jupyter kernel, show a ZtbError as ``Name: message`` instead of a 20-line traceback."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "_ztb_one_line", False):
        return

    def one_line(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
                 tb_offset: Any = None) -> list[str]:  # fmt: skip
        # IPython's run_code only calls the handler; showing the error (an "error" output with
        # ename/evalue, so papermill still fails the cell) is the handler's job.
        stb = [f"\x1b[31m{etype.__name__}\x1b[0m: {value}"]
        shell._showtraceback(etype, value, stb)
        return stb

    shell.set_custom_exc((ZtbError,), one_line)
    shell._ztb_one_line = True


def load_tree(
    artifacts_dir: str | os.PathLike[str] | None, snapshot: str | os.PathLike[str] | None = None
) -> tuple[str, ArtifactTree]:
    """(resolved folder, loaded tree) for a notebook's ``artifacts_dir``; errors name that variable.

    ``snapshot``: the nightly's load-once snapshot (:mod:`ztbkit.data.snapshot`), used when it matches.
    """
    from ztbkit.data.snapshot import read_snapshot

    _one_line_errors()
    path = resolve_artifacts_dir(artifacts_dir)
    if snapshot and (tree := read_snapshot(snapshot, path)) is not None:
        return path, tree  # the snapshot stands for the tree (which need not be readable from here)
    given = os.fspath(artifacts_dir).strip() if artifacts_dir is not None else ""
    env = os.environ.get(ENV_ARTIFACTS, "").strip()
    if "://" not in path and not os.path.isdir(path):
        if given:
            where = "" if os.path.isabs(os.path.expanduser(given)) else f" (relative to {project_root()})"
            why = f"artifacts_dir = {given!r}: {path}{where} is not a folder"
        elif env:
            why = f"artifacts_dir is empty and ${ENV_ARTIFACTS} = {env!r}: {path} is not a folder"
        else:
            why = (f"artifacts_dir is empty and the demo artifacts {path} are not built: "
                   "run `make demo` (or `ztb demo --out-dir demo` in the project root)")  # fmt: skip
        raise ParameterError(f"{why}; set artifacts_dir in the first cell")
    try:
        return path, load_artifacts(path)
    except ArtifactsNotFoundError as exc:
        raise ParameterError(
            f"artifacts_dir: {str(exc).replace(' (set it with --artifacts-dir)', '')}"
        ) from None
