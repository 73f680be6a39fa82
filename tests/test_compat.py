"""ztb compat: one JSON request in, one JSON response out."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeTree, write

from ztbkit.compat import handle


def ask(request: Any, tmp_path: Path, env: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
    raw = request if isinstance(request, str) else json.dumps(request)
    return handle(raw, artifacts_dir=kw.get("artifacts", tmp_path / "artifacts"), state_dir=tmp_path,
                  env=env or {}, config=kw.get("config"))  # fmt: skip


def test_version_and_errors(tmp_path: Path) -> None:
    assert ask({"action": "version"}, tmp_path) == {"success": True, "action": "version", "version": "0.1.0"}
    for request, error in [
        ("{not json", "invalid JSON request"),
        ([1], "must be a JSON object"),
        ({"action": "dance"}, "unknown action 'dance' (known: status, run, doctor, version)"),
        ({"action": "run"}, "params.command is required"),
        ({"action": "run", "params": {"command": "ztb trends"}}, "argument list, not a shell string"),
        ({"action": "run", "params": {"command": ["ztb"], "timeout": -1}}, "positive number"),
        ({"action": "doctor"}, "params.correlation_id is required"),
    ]:
        response = ask(request, tmp_path)
        assert response["success"] is False and error in response["error"] and "action" in response


def test_run_allow_list(tmp_path: Path) -> None:
    ok = ask({"action": "run", "params": {"command": ["ztb", "--version"]}}, tmp_path)
    assert ok["success"] and ok["returncode"] == 0 and ok["stdout"] == "ztb, version 0.1.0\n"
    refused = ask({"action": "run", "params": {"command": [sys.executable, "-c", "print(1)"]}}, tmp_path)
    assert refused["success"] is False and "is not on the allow-list" in refused["error"]
    allowed = ask({"action": "run", "params": {"command": [sys.executable, "-c", "print(1)"]}}, tmp_path,
                  env={"ZTB_COMPAT_ALLOW": sys.executable})  # fmt: skip
    assert allowed["success"] and allowed["stdout"] == "1\n"
    impostor = ask({"action": "run", "params": {"command": [str(tmp_path / Path(sys.executable).name), "-c", "1"]}},
                   tmp_path, env={"ZTB_COMPAT_ALLOW": Path(sys.executable).name})  # fmt: skip
    assert impostor["success"] is False  # a base name on the list does not admit any path ending in it
    config = write(tmp_path / "compat.json", {"allow": [sys.executable]})
    assert ask(
        {"action": "run", "params": {"command": [sys.executable, "-c", "0"]}}, tmp_path, config=config
    )["success"]
    failing = ask(
        {"action": "run", "params": {"command": ["ztb", "trends", "--artifacts-dir", "/nope"]}}, tmp_path
    )
    assert (
        failing["success"] is False and failing["returncode"] == 2 and "does not exist" in failing["stderr"]
    )


def test_timeout_kills_the_tree_and_huge_output_is_capped(tmp_path: Path) -> None:
    env = {"ZTB_COMPAT_ALLOW": sys.executable}
    t0 = time.monotonic()
    slow = ask({"action": "run", "params": {"command": [sys.executable, "-c", "import time; time.sleep(60)"],
                                            "timeout": 1}}, tmp_path, env=env)  # fmt: skip
    assert time.monotonic() - t0 < 20
    assert slow["success"] is False and slow["timed_out"] and "timed out after 1 s" in slow["error"]
    big = ask(
        {"action": "run", "params": {"command": [sys.executable, "-c", "print('x' * 5_000_000)"]}},
        tmp_path,
        env=env,
    )
    assert big["success"] and len(big["stdout"]) < 70_000 and "truncated by ztb compat" in big["stdout"]


def test_status_and_doctor(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"20251001T000000Z": {"summary.json": {"global_step": 5, "rl_sharpe": 1.0}}})
    write(tmp_path / "trade-state.json", {"phase": 2, "consecutiveDays": 5})
    status = ask({"action": "status"}, tmp_path, artifacts=root)
    assert status["success"] and status["live"]["trade_state"]["phase"] == 2
    assert status["sessions"][0] == {"id": "20251001T000000Z", "status": "unknown", "global_step": 5, "rl_sharpe": 1.0,
                                     "gates": "none", "start_time": "2025-10-01T00:00:00+00:00"}  # fmt: skip
    doctor = ask({"action": "doctor", "params": {"correlation_id": "nope"}}, tmp_path, artifacts=root)
    assert doctor["success"] is False and "no session folder" in doctor["error"]


@pytest.mark.parametrize(
    ("request_text", "code"), [('{"action": "version"}', 0), ('{"action": "nope"}', 1), ("", 1)]
)
def test_cli_reads_stdin_and_exits_by_success(tmp_path: Path, request_text: str, code: int) -> None:
    p = subprocess.run([sys.executable, "-m", "ztbkit", "compat", "--state-dir", str(tmp_path)], input=request_text,
                       capture_output=True, text=True)  # fmt: skip
    assert p.returncode == code and json.loads(p.stdout)["success"] is (code == 0)
