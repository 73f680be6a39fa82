"""pyproject.toml is the one list of dependencies; environment.yml must mirror it for conda users."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from conftest import REPO


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ ;\[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(spec: str) -> str:
    return spec.replace(" ", "").lower()  # package names are case-insensitive


def _conda(name: str) -> dict[str, str]:
    items = [
        ln.strip()[2:]
        for ln in (REPO / name).read_text(encoding="utf-8").splitlines()
        if ln.strip().startswith("- ")
    ]
    skip = ("conda-forge", "pip", "pip:")
    return {_name(x): _spec(x) for x in items if x not in skip and not x.startswith(("python", "-e"))}


def test_environment_yml_mirrors_pyproject() -> None:
    """environment.yml + environment-dev.yml hold pyproject's packages with the same bounds; the first
    (what `conda env create` makes for the demo and the nights) holds none of the dev-only tools."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    pinned = project["dependencies"] + [d for extra in extras.values() for d in extra]
    wanted = {_name(d): _spec(d) for d in pinned}
    runtime, dev = _conda("environment.yml"), _conda("environment-dev.yml")
    assert {**runtime, **dev} == wanted  # the same packages with the same version bounds
    assert not set(runtime) & set(dev)  # each package in one file
    dev_only = {_name(d) for d in extras["dev"]} - {
        _name(d) for k, v in extras.items() if k != "dev" for d in v
    }
    assert set(runtime) == set(wanted) - dev_only and set(dev) == dev_only


def test_the_wheel_carries_the_notebooks_and_data_inside_the_package(tmp_path: Path) -> None:
    """A wheel install has everything the reports need inside ``ztbkit/``: the five notebooks the
    nightly runs, the page template, uPlot, the tariffs, the GPU power table and the Japanese catalogue
    (nothing under share/)."""
    import subprocess
    import sys
    import zipfile

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("ztbkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = (
        {f"ztbkit/reports/notebooks/{n}.ipynb" for n in ("dashboard", "trends", "budget", "cost", "compare")}
        | {
            "ztbkit/reports/static/uPlot.iife.min.js",
            "ztbkit/reports/static/uPlot.min.css",
            "ztbkit/reports/static/uPlot.LICENSE",
            "ztbkit/reports/templates/ztb/index.html.j2",
            "ztbkit/reports/templates/ztb/conf.json",
            "ztbkit/money/tariffs/simple.toml",
            "ztbkit/money/tariffs/jp_residential_tiered.toml",
            "ztbkit/money/gpu_power.toml",
            "ztbkit/py.typed",
            "ztbkit/cli/__init__.py",
            "ztbkit/locale/ja/LC_MESSAGES/ztbkit.mo",  # the Japanese catalogue, compiled (committed, checked fresh)
            "ztbkit/locale/ja/LC_MESSAGES/ztbkit.po",
        }
    )
    assert wanted <= names, sorted(wanted - names)
    assert not [n for n in names if ".data/" in n or n.startswith("tests/")], "nothing outside the package"
