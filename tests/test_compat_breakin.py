"""ztb compat attacked from outside (break-12): every path-typed option, whatever its click type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest

from ztbkit.cli import cli
from ztbkit.cli.allowlist import REPORT_COMMANDS
from ztbkit.cli.compat import handle


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


def _ztb(args: list[str], cwd: Path) -> Any:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-P", "-m", "ztbkit", *args], capture_output=True,
                          encoding="utf-8", cwd=cwd, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})  # fmt: skip


@pytest.mark.parametrize("planted", ["session", "reports"])
@pytest.mark.parametrize("command", ["doctor", "cost"])
def test_a_symlink_planted_in_the_artifacts_folder_does_not_carry_writes_out(
    tmp_path: Path, planted: str, command: str
) -> None:
    """Someone who can plant files in the artifacts folder links a session (or its reports/) to a
    folder outside; doctor and cost must not write their report there."""
    root = tmp_path / "artifacts"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious\n", encoding="utf-8")
    summary = '{"global_step": 100, "wall_clock_duration_hours": 1.0}'
    if planted == "session":
        root.mkdir()
        (outside / "summary.json").write_text(summary, encoding="utf-8")
        (root / "s1").symlink_to(outside, target_is_directory=True)
    else:
        (root / "s1").mkdir(parents=True)
        (root / "s1" / "summary.json").write_text(summary, encoding="utf-8")
        (root / "s1" / "reports").symlink_to(outside, target_is_directory=True)
    before = sorted(p.name for p in outside.rglob("*"))
    args = [command, "--correlation-id", "s1", "--artifacts-dir", str(root)]
    if command == "cost":
        args += ["--kwh", "1", "--kwh-rate", "30"]
    done = _ztb(args, tmp_path)
    assert sorted(p.name for p in outside.rglob("*")) == before, done.stdout + done.stderr
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "outside the artifacts folder" in done.stderr


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_report_of_a_notebook_path_is_refused_and_nothing_runs(tmp_path: Path, where: str) -> None:
    """`ztb report NAME` also takes a path to any .ipynb and executes it: through compat that is
    running arbitrary code, wherever the notebook lies (a planted one inside the roots too)."""
    import nbformat

    root = tmp_path / "artifacts"
    root.mkdir()
    sentinel = tmp_path / "PWNED"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"open({str(sentinel)!r}, 'w').write('x')")]
    path = (tmp_path if where == "outside" else root) / "evil.ipynb"
    nbformat.write(nb, str(path))
    for name in [str(path), f"{path}", "../" + path.name, path.name]:
        response = ask({"action": "run", "params": {"command": ["ztb", "report", name, "--artifacts-dir", str(root),
                                                                "--out-dir", str(root / "o")], "timeout": 60}},
                       tmp_path, root)  # fmt: skip
        assert response["success"] is False, response
        assert response["error"].startswith("refused by rule 'report-commands-only'"), response
        assert "returncode" not in response
    assert not sentinel.exists()
    ok = ask(
        {"action": "run", "params": {"command": ["ztb", "report", "--help"], "timeout": 60}}, tmp_path, root
    )
    assert ok["success"], ok


@pytest.mark.parametrize("command", [["trends", "-v", "--out", "t.csv"], ["budget", "-v", "--out", "b.md"],
                                     ["trends", "--strict", "--out", "t.csv"]])  # fmt: skip
def test_a_session_name_cannot_forge_lines_on_stderr(tmp_path: Path, command: list[str]) -> None:
    """A folder planted in artifacts whose name holds a newline (or CR) followed by a fake line:
    warnings that name it must stay one line each."""
    name = "bad\rOK\nztb: error: forged"
    session = tmp_path / "artifacts" / name
    session.mkdir(parents=True)
    (session / "summary.json").write_text('{"global_step":', encoding="utf-8")
    done = _ztb(command, tmp_path)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines and not any(line.startswith("ztb: error: forged") for line in lines), done.stderr
    assert all(line.startswith(("warning: ", "ztb: error: ")) for line in lines), done.stderr
    assert "\r" not in done.stderr and "\r" not in done.stdout


@pytest.mark.skipif(__import__("sys").platform == "win32", reason="POSIX byte names")
def test_nightly_survives_a_folder_name_that_is_not_utf8(tmp_path: Path) -> None:
    """The load cache (Parquet) cannot hold a surrogate-escaped folder name: nightly crashed with a
    traceback and wrote nothing."""
    import os

    root = tmp_path / "artifacts"
    for name in [b"20251001T000000Z", b"bad\xff"]:
        folder = os.path.join(os.fsencode(root), name)
        os.makedirs(folder)
        with open(os.path.join(folder, b"summary.json"), "wb") as fh:
            fh.write(b'{"global_step": 5, "wall_clock_duration_hours": 1.0}')
    done = _ztb(["nightly", "--skip-notebooks", "--artifacts-dir", str(root)], tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert "bad\ufffd" in done.stderr  # reported with a replacement character, still listed


def test_a_command_killed_at_the_timeout_reports_sigkill(tmp_path: Path) -> None:
    """README: a killed command answers its negative returncode and "signal": "SIGKILL". At the
    timeout the answer said returncode 0 (psutil reaped the child before subprocess could)."""
    import sys

    code = "import time; print('started', flush=True); time.sleep(120)"
    answer = handle(json.dumps({"action": "run", "params": {"command": [sys.executable, "-c", code], "timeout": 3}}),
                    artifacts_dir=tmp_path, state_dir=tmp_path, env={"ZTB_COMPAT_ALLOW": sys.executable},
                    config=None)  # fmt: skip
    assert answer["timed_out"] is True and answer["success"] is False, answer
    assert answer["returncode"] == -9 and answer["signal"] == "SIGKILL", answer
