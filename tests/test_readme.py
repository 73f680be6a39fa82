"""README's reference parts stay true to the code: one command table listing every `ztb` command
(a heading or blank line inside a Markdown table ends it, and the rest renders as loose text), and an
Architecture section naming every module in ztbkit/."""

from __future__ import annotations

import re

from conftest import REPO

from ztbkit.cli import cli

README = (REPO / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_one_command_table_lists_every_command() -> None:
    lines = _section("Commands").splitlines()
    header = lines.index("| command | what it does |")
    assert lines[header + 1] == "|---|---|"
    rows = []
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    in_table = {m.group(1) for row in rows if (m := re.match(r"\| `ztb ([a-z-]+)", row))}
    assert in_table == set(cli.commands), sorted(set(cli.commands) ^ in_table)
    # no stray table rows after the table ended (they would render as plain text)
    rest = lines[header + 2 + len(rows) :]
    assert not [ln for ln in rest if ln.startswith("| `ztb ")]


def test_architecture_names_every_module_in_its_layer() -> None:
    """Every module of src/ztbkit is named in README's tree, under the folder of its layer."""
    arch = _section("Architecture")
    package = REPO / "src" / "ztbkit"
    blocks: dict[str, str] = {}
    current = ""
    for line in arch.splitlines():
        if m := re.match(r"^  ([a-z_]+)/ ", line):
            current = m.group(1)
        elif re.match(r"^\S", line):
            current = ""
        blocks[current] = blocks.get(current, "") + line + "\n"
    missing = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if path.name in ("__init__.py", "__main__.py") and len(rel.parts) > 1:
            continue
        layer = rel.parts[0] if len(rel.parts) > 1 else ""
        if layer == "money" and rel.parts[1] == "tariffs":
            continue  # a package of its own, named as tariffs/
        if not re.search(rf"(?<![\w.]){re.escape(path.name)}(?!\w)", blocks.get(layer, "")):
            missing.append(str(rel))
    assert not missing, missing
