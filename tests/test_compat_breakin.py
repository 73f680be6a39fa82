"""ztb compat attacked from outside (break-12): every path-typed option, whatever its click type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from ztbkit.allowlist import REPORT_COMMANDS
from ztbkit.cli import cli
from ztbkit.compat import handle


def ask(request: Any, tmp_path: Path, root: Path) -> dict[str, Any]:
    return handle(json.dumps(request), artifacts_dir=root, state_dir=tmp_path, env={}, config=None)


def path_options() -> list[tuple[str, str]]:
    """(command, option) for every option of a report command that click converts as a path
    (click.Path, or the project's own Location type, whose metavar name is also "path")."""
    found = []
    for name in sorted(REPORT_COMMANDS):
        for param in cli.commands[name].params:
            if isinstance(param, click.Option) and param.type.name == "path":
                found.append((name, param.opts[-1]))
    return found


def test_the_table_is_not_empty() -> None:
    # Independent expectation: these are documented in README as path options.
    got = set(path_options())
    for expected in [("trends", "--out"), ("trends", "--artifacts-dir"), ("budget", "--out"),
                     ("dashboard", "--out"), ("report", "--out-dir"), ("tb-scrape", "--run-dir")]:  # fmt: skip
        assert expected in got


@pytest.mark.parametrize(("command", "option"), path_options())
def test_every_path_option_outside_the_roots_is_refused(tmp_path: Path, command: str, option: str) -> None:
    root = tmp_path / "artifacts"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    argv = ["ztb", command, option, str(outside / "x")]
    if command == "report":
        argv.insert(2, "trends")
    response = ask({"action": "run", "params": {"command": argv, "timeout": 30}}, tmp_path, root)
    assert response["success"] is False, response
    assert response["error"].startswith("refused by rule 'paths-inside-roots'"), response
    assert "returncode" not in response
    assert list(outside.iterdir()) == []


def test_a_ztbkit_package_planted_in_the_working_folder_is_not_imported(tmp_path: Path) -> None:
    """`python -m` puts the working folder first on sys.path: a planted `ztbkit/` there (compat
    started inside a folder others can write, e.g. the artifacts folder) must not run."""
    import subprocess
    import sys

    cwd = tmp_path / "cwd"
    (cwd / "ztbkit").mkdir(parents=True)
    sentinel = tmp_path / "PWNED"
    (cwd / "ztbkit" / "__init__.py").write_text(
        f"open({str(sentinel)!r}, 'w').write('x')\n", encoding="utf-8"
    )
    (cwd / "ztbkit" / "__main__.py").write_text("", encoding="utf-8")
    request = json.dumps({"action": "run", "params": {"command": ["ztb", "--version"], "timeout": 60}})
    done = subprocess.run([sys.executable, "-P", "-m", "ztbkit", "compat", "--artifacts-dir", str(cwd)],
                          input=request.encode(), capture_output=True, cwd=cwd, timeout=120)  # fmt: skip
    answer = json.loads(done.stdout)
    assert not sentinel.exists()
    assert answer["success"] and answer["stdout"].startswith("ztb, version"), answer
