"""The notebooks a user edits are not the notebooks the nightly runs (README "In JupyterLab").

The defect this guards: README said to set ``interactive = True`` in the tracked
``notebooks/dashboard.ipynb``; JupyterLab autosaved it, the nightly ran that same file, and
``ztb report dashboard`` printed ``ok`` while the page held only the title and the .md the text
``HBox(children=(SelectMultiple(…``. Now ``ztb lab`` opens copies in a workspace of the user's, the
reports run the packaged notebooks, and a headless run of any notebook with ``interactive = True``
renders the static report with a one-line note.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import sh

from ztbkit.data.demo import build_demo
from ztbkit.reports.notebooks import NOTEBOOKS, PACKAGED
from ztbkit.reports.workspace import MANIFEST, refresh_workspace

ZTB = str(Path(sys.executable).with_name("ztb"))
NOTE = "interactive = True is ignored in a headless run"


def set_interactive(path: Path) -> None:
    """What a user does in JupyterLab, as the file is then saved: ``interactive = True`` appended to
    the parameters cell."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = nb["cells"][0]
    assert "parameters" in cell["metadata"]["tags"]
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    cell["source"] = source + "\ninteractive = True\n"
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root (ZTB_ROOT) with the demo artifacts, as `make demo` leaves it."""
    root = tmp_path_factory.mktemp("project")
    build_demo(root / "demo", sessions=8)
    return root


@pytest.fixture
def own_project(project: Path, tmp_path: Path) -> Path:
    """A copy of the module's project for a test that runs `ztb lab` in it: the notebooks/ it makes
    (and the user's edit in it) must not be there when the next test, in random order, looks."""
    root = tmp_path / "own-project"
    shutil.copytree(project, root, symlinks=True)
    return root


def env_for(project: Path) -> dict[str, str]:
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(project), "LANG": "C.UTF-8",
            "ZTB_ROOT": str(project)}  # fmt: skip


def test_ztb_lab_makes_the_workspace_and_keeps_a_users_edit(own_project: Path) -> None:
    project = own_project
    env = env_for(project)
    first = sh(f"{ZTB} lab --prepare-only", env, project)
    assert first.returncode == 0, first.stderr
    workspace = project / "notebooks"
    assert sorted(p.name for p in workspace.glob("*.ipynb")) == sorted(f"{n}.ipynb" for n in NOTEBOOKS)
    assert "5 created" in first.stdout
    set_interactive(workspace / "dashboard.ipynb")
    edited = (workspace / "dashboard.ipynb").read_bytes()
    again = sh(f"{ZTB} lab --prepare-only", env, project)
    assert again.returncode == 0, again.stderr
    assert (workspace / "dashboard.ipynb").read_bytes() == edited  # never overwritten
    assert "dashboard.ipynb: kept: you edited it" in again.stdout and "4 up to date" in again.stdout


def test_the_nightly_runs_the_packaged_notebook_not_the_users_saved_copy(
    own_project: Path, tmp_path: Path
) -> None:
    project = own_project
    env = env_for(project)
    assert sh(f"{ZTB} lab --prepare-only", env, project).returncode == 0
    set_interactive(project / "notebooks" / "dashboard.ipynb")  # JupyterLab's autosave
    out = tmp_path / "out"
    run = sh(
        f"{ZTB} report dashboard --artifacts-dir demo/artifacts --out-dir {out} --date 2025-10-31",
        env,
        project,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    page = (out / "2025-10-31" / "dashboard.html").read_text(encoding="utf-8")
    md = (out / "2025-10-31" / "dashboard.md").read_text(encoding="utf-8")
    sessions = sorted(p.name for p in (project / "demo" / "artifacts").iterdir() if p.is_dir())
    assert all(s in page for s in sessions[:3]) and "<table" in page
    assert "HBox(children" not in md and NOTE not in page  # the packaged copy never had interactive set


def test_a_headless_run_of_a_notebook_saved_with_interactive_true_is_the_static_report(
    project: Path, tmp_path: Path
) -> None:
    """Running the user's own copy by path (or -p interactive true): the full static report and a
    one-line note, never a page of widget placeholders called ok."""
    env = env_for(project)
    mine = tmp_path / "mine"
    refresh_workspace(mine)
    for name in NOTEBOOKS:
        set_interactive(mine / f"{name}.ipynb")
    sessions = sorted(p.name for p in (project / "demo" / "artifacts").iterdir() if p.is_dir())
    out = tmp_path / "out"
    paths = " ".join(str(mine / f"{n}.ipynb") for n in NOTEBOOKS)
    run = sh(
        f"{ZTB} report {paths} --artifacts-dir demo/artifacts --out-dir {out} --date 2025-10-31", env, project
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for name in NOTEBOOKS:
        page = (out / "2025-10-31" / f"{name}.html").read_text(encoding="utf-8")
        md = (out / "2025-10-31" / f"{name}.md").read_text(encoding="utf-8")
        assert NOTE in page and NOTE in md, name
        assert "HBox(children" not in md and "SelectMultiple(" not in md, name
        assert "<table" in page or "<img" in page, name  # content, not only the title
        if name in ("dashboard", "trends"):
            assert any(s in page for s in sessions), name
    run = sh(f"{ZTB} report trends -p interactive true --artifacts-dir demo/artifacts --out-dir {tmp_path / 'p'} "
             "--date 2025-10-31", env, project)  # fmt: skip
    assert run.returncode == 0 and NOTE in (tmp_path / "p" / "2025-10-31" / "trends.html").read_text(
        encoding="utf-8"
    )


def test_an_unedited_copy_is_refreshed_to_the_new_version(tmp_path: Path) -> None:
    """A new ztbkit's notebooks reach copies nobody edited; an unknown copy counts as the user's."""
    ws = tmp_path / "ws"
    refresh_workspace(ws)
    old = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    (ws / "trends.ipynb").write_bytes(old)
    manifest = json.loads((ws / MANIFEST).read_text(encoding="utf-8"))
    import hashlib

    manifest["written"]["trends"] = hashlib.sha256(old).hexdigest()  # as an older ztbkit wrote it
    (ws / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    (ws / "cost.ipynb").write_bytes(b"{}")  # a copy no manifest knows: the user's
    actions = {o.name: o.action for o in refresh_workspace(ws)}
    assert actions == {"dashboard": "current", "trends": "refreshed", "budget": "current", "cost": "kept",
                       "compare": "current"}  # fmt: skip
    assert (ws / "trends.ipynb").read_bytes() == (PACKAGED / "trends.ipynb").read_bytes()
    assert (ws / "cost.ipynb").read_bytes() == b"{}"
    (ws / MANIFEST).write_text("not json", encoding="utf-8")  # a broken manifest: every edited copy kept
    assert {o.name: o.action for o in refresh_workspace(ws)}["cost"] == "kept"


def test_lab_without_jupyterlab_says_how_to_install_it(project: Path, tmp_path: Path) -> None:
    """A pip user without the lab extra: one line naming the install, exit 2, copies still made."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nsys.modules['jupyterlab'] = None\n", encoding="utf-8"
    )
    env = {**env_for(project), "PYTHONPATH": str(blocker)}
    run = sh(f"{ZTB} lab --dir {tmp_path / 'ws'}", env, project)
    assert run.returncode == 2, run.stdout + run.stderr
    assert (
        run.stderr.strip().splitlines()[-1].endswith("pip install 'ztbkit[lab]' (in the project: make lab)")
    )
    assert (tmp_path / "ws" / "dashboard.ipynb").is_file()


def test_a_file_in_the_way_of_the_workspace_is_one_line(project: Path, tmp_path: Path) -> None:
    (tmp_path / "ws").write_text("", encoding="utf-8")
    run = sh(f"{ZTB} lab --prepare-only --dir {tmp_path / 'ws'}", env_for(project), project)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert str(tmp_path / "ws") in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_the_packaged_notebooks_ship_inside_the_package() -> None:
    """The reports never look in a working folder: the notebooks are package data."""
    assert PACKAGED.parent.name == "reports" and all((PACKAGED / f"{n}.ipynb").is_file() for n in NOTEBOOKS)
    assert os.path.commonpath([PACKAGED, Path(sys.modules["ztbkit"].__file__ or "").parent]) == str(
        Path(sys.modules["ztbkit"].__file__ or "").parent
    )
