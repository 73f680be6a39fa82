"""The house's plan, held against the code (README, Architecture): layers import downward only, the
library never imports the command line, no import circles, no module over 400 lines.

Imports are read with the standard ``ast`` module: every ``import`` and ``from … import`` of ztbkit,
at the top of a module, inside a function, or under ``if TYPE_CHECKING`` alike (a lazy import is
still a dependency).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "src" / "ztbkit"
#: Each layer and the layers it may import (besides itself). README's Architecture draws the same.
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "data": {"core"},
    "money": {"core", "data"},
    "analysis": {"core", "data", "money"},
    "reports": {"core", "data", "money", "analysis"},
    "notify": {"core", "data", "money", "analysis"},
    "watch": {"core", "data", "money", "analysis", "notify"},
    "schedule": {"core", "notify"},
    "ops": {"core", "data", "money", "analysis", "reports", "notify", "watch", "schedule"},
    "cli": {"core", "data", "money", "analysis", "reports", "notify", "watch", "schedule", "ops", "root"},
    "root": {"core", "data", "money", "analysis"},  # ztbkit/__init__.py: the small public face
    "locale": {"core"},  # words for people (gettext, Babel formatting, chart fonts): every layer's
}
for _layer in MAY_IMPORT:  # ... so every layer may import it
    if _layer not in ("core", "locale"):
        MAY_IMPORT[_layer].add("locale")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str:
    """The module a dotted import name lands in: ``ztbkit.data.artifacts.load_artifacts`` → the module."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> Iterator[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ztbkit":
                    yield resolve(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "ztbkit":
                continue
            for alias in node.names:  # ``from ztbkit.data import session`` imports the submodule
                sub = f"{target}.{alias.name}"
                yield sub if sub in MODULES else resolve(target)


GRAPH = {m: {d for d in imports_of(m) if d != m} for m in MODULES}


def layer(module: str) -> str:
    parts = module.split(".")
    return (
        parts[1]
        if len(parts) > 1 and parts[1] != "__main__"
        else ("cli" if module.endswith("__main__") else "root")
    )


def test_every_module_belongs_to_a_known_layer() -> None:
    assert {layer(m) for m in MODULES} <= set(MAY_IMPORT)


def test_the_library_never_imports_the_command_line() -> None:
    offenders = sorted(
        f"{m} -> {d}" for m, deps in GRAPH.items() if layer(m) != "cli" for d in deps if layer(d) == "cli"
    )
    assert offenders == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_import_downward_only(module: str) -> None:
    own = layer(module)
    wrong = sorted(d for d in GRAPH[module] if layer(d) != own and layer(d) not in MAY_IMPORT[own])
    assert wrong == [], f"{module} ({own}) may import only {sorted(MAY_IMPORT[own])}"


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components: every one must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for d in GRAPH[m]:
            if d not in MODULES:
                continue
            if d not in index:
                visit(d)
                low[m] = min(low[m], low[d])
            elif d in on_stack:
                low[m] = min(low[m], index[d])
        if low[m] == index[m]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == m:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for m in sorted(MODULES):
        if m not in index:
            visit(m)
    assert circles == []


def test_the_graph_reader_sees_a_circle_and_a_lazy_import(tmp_path: Path) -> None:
    """The checks above can fail: the reader finds a lazy import inside a function (one of the
    five old circles was one) and resolves ``from package import submodule``."""
    assert "ztbkit.core.errors" in GRAPH["ztbkit.core.clock"]
    assert "ztbkit.notify.dispatch" in GRAPH["ztbkit.cli.alerting"]  # imported inside a function only
    assert "ztbkit.reports.dashboard" in GRAPH["ztbkit.reports.views"]  # from ztbkit.reports import dashboard


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]}: {lines} lines; split it along its nouns"


@pytest.mark.parametrize(
    "package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py" and m.count(".") == 1)
)
def test_each_layer_says_what_it_owns_and_may_import(package: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text(encoding="utf-8"))) or ""
    assert "May import" in doc, f"{package}/__init__.py: say in its docstring what it owns and may import"
