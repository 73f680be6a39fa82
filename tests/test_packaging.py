"""pyproject.toml is the one list of dependencies; environment.yml must mirror it for conda users."""

from __future__ import annotations

import re
import tomllib

from conftest import REPO


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ ;\[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(spec: str) -> str:
    return spec.replace(" ", "").lower()  # package names are case-insensitive


def test_environment_yml_mirrors_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = project["dependencies"] + [
        d for extra in project["optional-dependencies"].values() for d in extra
    ]
    wanted = {_name(d): _spec(d) for d in pinned}
    items = [
        ln.strip()[2:]
        for ln in (REPO / "environment.yml").read_text(encoding="utf-8").splitlines()
        if ln.strip().startswith("- ")
    ]
    skip = ("conda-forge", "pip", "pip:")
    conda = {_name(x): _spec(x) for x in items if x not in skip and not x.startswith(("python", "-e"))}
    assert conda == wanted  # the same packages with the same version bounds
