"""No working folder can shadow the installed package (the src/ layout; README, Architecture).

The defect this guards: with the clone at ``~/ztbkit`` and the working folder ``~`` (and the Windows
task's ``C:\\ztb`` with the checkout at ``C:\\ztb\\ztbkit``), ``import ztbkit`` inside the report
kernel found the checkout folder as a namespace package: ``ztb report cost`` and ``ztb nightly``
failed with ``FileNotFoundError: '<home>/ztbkit/gpu_power.toml'``. Each command here runs as a user
pastes it (``/bin/sh -c``, a clean environment) from the folder that holds the clone and from inside
the clone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import sh

from ztbkit.data.demo import build_demo

ZTB = str(Path(sys.executable).with_name("ztb"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``~`` holding a clone named ``ztbkit`` (no ``__init__.py`` at its top, as every clone), with
    the demo artifacts `make demo` builds inside it."""
    home = tmp_path_factory.mktemp("home")
    clone = home / "ztbkit"
    for folder in ("src", "notebooks", "docs", "tests"):
        (clone / folder).mkdir(parents=True)
    (clone / "README.md").write_text("# ztbkit\n", encoding="utf-8")
    (clone / "pyproject.toml").write_text('[project]\nname = "ztbkit"\n', encoding="utf-8")
    build_demo(clone / "demo", sessions=8)
    return home


def env_for(home: Path) -> dict[str, str]:
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


#: Where the user stands: the folder holding the clone (``~``), or inside the clone, and the artifacts
#: path as they would type it from there.
PLACES = {"beside the clone": ("", "ztbkit/demo/artifacts"), "inside the clone": ("ztbkit", "demo/artifacts")}


def run_from(home: Path, where: str, command: str, out: Path) -> None:
    folder, artifacts = PLACES[where]
    run = sh(f"{ZTB} {command} --artifacts-dir {artifacts} --out-dir {out} --date 2025-10-31", env_for(home),
             home / folder)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("where", sorted(PLACES))
def test_report_cost_from_the_folder_holding_the_clone_and_from_inside_it(home: Path, where: str) -> None:
    out = home / f"out-cost-{where.split()[0]}"
    run_from(home, where, "report cost", out)
    page = (out / "2025-10-31" / "cost.html").read_text(encoding="utf-8")
    assert "Cost Report" in page and "¥" in page


@pytest.mark.parametrize("where", sorted(PLACES))
def test_nightly_from_the_folder_holding_the_clone_and_from_inside_it(home: Path, where: str) -> None:
    out = home / f"out-nightly-{where.split()[0]}"
    run_from(home, where, "nightly", out)
    for name in ("dashboard", "trends", "budget", "cost", "compare"):
        assert (out / "2025-10-31" / f"{name}.html").is_file(), name


def test_the_kernel_imports_the_installed_package_not_the_clone(home: Path) -> None:
    """What both commands rely on, asked of a plain Python started in ``~`` like the report kernel."""
    code = "import ztbkit, ztbkit.money.gpu_power as g; print(ztbkit.__file__); print(len(g.gpu_power_table()) > 0)"
    run = sh(f"{sys.executable} -c '{code}'", env_for(home), home)
    assert run.returncode == 0, run.stderr
    where, ok = run.stdout.split()
    assert not where.startswith(str(home)) and where.endswith("__init__.py") and ok == "True"
