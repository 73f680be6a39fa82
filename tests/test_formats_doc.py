"""docs/FORMATS.md is the project's own format reference: it lives inside the project and names every
key the loaders look up, in the loaders' order."""

from __future__ import annotations

import re

from conftest import REPO

from ztbkit.data.lookup import LOOKUP
from ztbkit.data.session import DURATION_SOURCES

DOC = REPO / "docs" / "FORMATS.md"
ROW_OF = {"memory_peak_mb": "memory_peak_mb (VRAM)", "start_time": "start time"}


def _lookup_rows() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\| (.+?) \| (.+) \|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_every_lookup_key_is_documented_in_order() -> None:
    rows = _lookup_rows()
    for field, sources in LOOKUP.items():
        row = rows[ROW_OF.get(field, field)]
        at = 0
        for _, key in sources:  # each key found after the previous one: the loader's order
            found = row.find(f"`{key}`", at)
            assert found >= 0, f"{field}: {row!r} misses `{key}` (or lists it out of order)"
            at = found + 1


def test_duration_sources_and_cost_shapes_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for _file, _parent, key, _unit in DURATION_SOURCES:
        assert key in text, key
    for key in ("total_cost_jpy", "gpu_hours", "power_kwh", "energy unknown", "trends_table.md"):
        assert key in text, key


def test_readme_links_the_project_copy() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "](docs/FORMATS.md)" in readme and "../shared/FORMATS.md" not in readme


def test_hyperparameter_sources_are_documented_in_order() -> None:
    from ztbkit.data.hparams import SOURCES

    rows = _lookup_rows()
    at: dict[str, int] = {}
    for source, key in SOURCES:
        row = rows[source]
        found = row.find(f"`{key}`", at.get(source, 0))
        assert found >= 0, f"{source}: {row!r} misses `{key}` (or lists it out of order)"
        at[source] = found + 1
    assert (
        list(rows).index("run_metadata.json")
        < list(rows).index("TensorBoard hparams plugin")
        < list(rows).index("the folder name")
    )
