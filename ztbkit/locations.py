"""Where the notebooks look for things: the project root and the default artifacts folder.

Policy (README "In JupyterLab"):

* ``artifacts_dir`` empty → ``$ZTB_ARTIFACTS_DIR``, else the demo artifacts ``demo/artifacts`` in the
  project root (``make demo`` or ``make lab`` builds them; a notebook never builds them itself).
* A relative path resolves against the **project root**, never the kernel's working folder (which is
  ``notebooks/`` in JupyterLab and wherever cron started papermill at night). The project root is
  ``$ZTB_ROOT`` when set, else the source checkout ztbkit runs from (the folder with
  ``pyproject.toml`` and ``notebooks/``), else — for an install from a wheel — the current folder.
* URLs (``s3://…``) and absolute paths are used as given; ``~`` is expanded.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_ARTIFACTS = "ZTB_ARTIFACTS_DIR"
ENV_ROOT = "ZTB_ROOT"
DEMO_ARTIFACTS = Path("demo") / "artifacts"


def project_root() -> Path:
    """``$ZTB_ROOT``, else the source checkout of this ztbkit, else the current folder."""
    env = os.environ.get(ENV_ROOT, "").strip()
    if env:
        return Path(env).expanduser().absolute()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
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
