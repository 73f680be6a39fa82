"""The one id rule: a correlation id or job name is exactly one safe path component."""

from __future__ import annotations

from pathlib import Path

import pytest

from ztbkit.core.errors import UsageError
from ztbkit.core.ids import check_component, problem_with_component, safe_repr


@pytest.mark.parametrize(
    "good", ["20250929T120000Z", "run-1_a.b", "日本語のラン", "x" * 200, "CONSOLE", "nul-ish", "a.b.c"]
)
def test_single_components_pass(good: str) -> None:
    assert check_component(good, "--correlation-id") == good


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "empty"),
        ("..", "relative"),
        (".", "relative"),
        ("../../outside", "separator"),
        ("/abs/path", "separator"),
        ("a\\b", "separator"),
        ("x\nDoctor Summary: OK=9", "control"),
        ("a\x00b", "control"),
        ("C:evil", "':'"),
        ("a?b", "Windows forbids"),
        ("a*b", "Windows forbids"),
        ('a"b', "Windows forbids"),
        ("a|b", "Windows forbids"),
        ("a<b>", "Windows forbids"),
        ("CON", "device"),
        ("nul.txt", "device"),
        ("com1", "device"),
        ("LPT9.log", "device"),
        ("trailing.", "dot or space"),
        ("trailing ", "dot or space"),
        ("x" * 201, "longer"),
        ("\udcff", "Unicode"),
    ],
)
def test_unsafe_components_are_refused_naming_the_flag(bad: str, why: str) -> None:
    assert why in (problem_with_component(bad) or "")
    with pytest.raises(UsageError) as err:
        check_component(bad, "--correlation-id")
    message = str(err.value)
    assert message.startswith("--correlation-id ")
    assert "\n" not in message


def test_safe_repr_escapes_control_characters() -> None:
    assert safe_repr("a\nb\x1b[31m") == "a\\x0ab\\x1b[31m"
    assert safe_repr("日本") == "日本"


def _tree(tmp_path: Path) -> Path:
    import json

    root = tmp_path / "work" / "artifacts"
    s = root / "20251001T000000Z"
    (s / "reports").mkdir(parents=True)
    (s / "summary.json").write_text(json.dumps({"global_step": 10, "wall_clock_duration_hours": 1}), "utf-8")
    (s / "reports" / "gates.json").write_text(
        json.dumps({"gates": [{"name": "g", "status": "fail"}]}), "utf-8"
    )
    # What an id walking out would reach: a session-like folder outside the artifacts root.
    (tmp_path / "outside" / "dir" / "reports").mkdir(parents=True)
    (tmp_path / "outside" / "dir" / "summary.json").write_text('{"global_step": 1}', "utf-8")
    return root


FORGED = "x\nDoctor Summary: OK=9, WARN=0, FAIL=0"


@pytest.mark.parametrize("command", ["doctor", "cost", "gates-alert --dry-run"])
@pytest.mark.parametrize(
    "bad", ["../../outside/dir", "/abs/path", "..", FORGED, "a/b", "a\\b", "CON", "x:y", ""]
)
def test_every_command_taking_an_id_refuses_unsafe_ids(tmp_path: Path, command: str, bad: str) -> None:
    """The documented command pasted into /bin/sh with a clean environment: exit 2, one line, nothing written."""
    import os
    import shlex
    import subprocess
    import sys

    root = _tree(tmp_path)
    (tmp_path / "outside" / "abs").mkdir()
    if bad == "/abs/path":
        bad = str(tmp_path / "outside" / "abs")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    line = f"{shlex.quote(sys.executable)} -m ztbkit {command} --correlation-id {shlex.quote(bad)} --artifacts-dir artifacts"
    p = subprocess.run(["/bin/sh", "-c", line], cwd=root.parent, capture_output=True, text=True, timeout=120,
                       env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, encoding="utf-8")  # fmt: skip
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("ztb: error: --correlation-id "), p.stderr
    assert "Doctor Summary" not in p.stdout and "Traceback" not in p.stderr
    assert (
        sorted(str(p) for p in tmp_path.rglob("*")) == before
    )  # no reports/doctor.txt, no cost file anywhere


def test_a_valid_id_still_works_and_compat_uses_the_same_rule(tmp_path: Path) -> None:
    from ztbkit.cli.compat import handle

    root = _tree(tmp_path)
    answer = handle(b'{"action": "doctor", "params": {"correlation_id": "../../outside/dir"}}', artifacts_dir=root,
                    state_dir=tmp_path, env={})  # fmt: skip
    assert answer["success"] is False and "params.correlation_id" in answer["error"]
    assert "path separator" in answer["error"]
    assert not (tmp_path / "outside" / "dir" / "reports" / "doctor.txt").exists()
    ok = handle(b'{"action": "doctor", "params": {"correlation_id": "20251001T000000Z"}}', artifacts_dir=root,
                state_dir=tmp_path, env={})  # fmt: skip
    assert (
        ok["correlation_id"] == "20251001T000000Z"
        and (root / "20251001T000000Z/reports/doctor.txt").is_file()
    )


def test_the_library_checks_ids_too(tmp_path: Path) -> None:
    from ztbkit.ops.doctor import run_doctor

    root = _tree(tmp_path)
    with pytest.raises(UsageError, match="--correlation-id"):
        run_doctor(root, "../../outside/dir")
    assert not (tmp_path / "outside" / "dir" / "reports" / "doctor.txt").exists()
