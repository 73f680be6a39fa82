"""``ztb compat``: one JSON request on stdin, one JSON response on stdout — for other programs.

Actions: ``status`` (the live bot status and the latest sessions), ``run`` (a command, see below),
``doctor`` (``params.correlation_id``) and ``version``. Every response is a JSON object with
``"success"`` and ``"action"``; failures carry a readable ``"error"``. Exit 0 only on success.

``run`` is safe by default: ``params.command`` must be an argument list (never a shell string) and its
program must be on the allow-list — ``ztb`` subcommands, plus names or paths listed in
``ZTB_COMPAT_ALLOW`` (comma-separated) or a config file's ``"allow"`` list, matched exactly. A timeout (``params.timeout``,
default 300 s) kills the whole process tree; stdout and stderr are capped (64 KiB each by default) with a
truncation marker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ztbkit import __version__
from ztbkit.errors import ZtbError
from ztbkit.fsio import read_json

ACTIONS = ("status", "run", "doctor", "version")
DEFAULT_TIMEOUT = 300.0
OUTPUT_CAP = 64 * 1024
TRUNCATED = "\n[... truncated by ztb compat: {n} more bytes ...]\n"


def allow_list(env: Mapping[str, str], config: Path | None = None) -> list[str]:
    allowed = ["ztb"]
    allowed += [a.strip() for a in env.get("ZTB_COMPAT_ALLOW", "").split(",") if a.strip()]
    if config is not None:
        read = read_json(config)
        if read.ok and isinstance(read.value, dict) and isinstance(read.value.get("allow"), list):
            allowed += [str(a) for a in read.value["allow"]]
    return allowed


def _capture(stream: Any, cap: int, out: dict[str, Any], key: str) -> None:
    """Read a pipe to the end, keeping the first ``cap`` bytes (so the child never blocks on a full pipe)."""
    kept, dropped = bytearray(), 0
    for chunk in iter(lambda: stream.read(65536), b""):
        room = cap - len(kept)
        kept += chunk[:room]
        dropped += max(0, len(chunk) - room)
    text = kept.decode("utf-8", errors="replace")
    out[key] = text + (TRUNCATED.format(n=dropped) if dropped else "")


def run_command(command: Sequence[str], *, allowed: Sequence[str], timeout: float = DEFAULT_TIMEOUT,
                cap: int = OUTPUT_CAP) -> dict[str, Any]:  # fmt: skip
    from ztbkit.proc import kill_tree

    program = command[0]
    # Exact matches only: a bare name on the list admits that name (found on PATH), a path admits
    # that path. Matching by base name would let /tmp/anything/python3 pass for "python3".
    if program not in allowed:
        raise ValueError(f"command {program!r} is not on the allow-list ({', '.join(allowed)}); "
                         "add it to ZTB_COMPAT_ALLOW or the config's \"allow\" list")  # fmt: skip
    argv = [sys.executable, "-m", "ztbkit", *command[1:]] if program == "ztb" else list(command)
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=os.name == "posix")  # fmt: skip
    except OSError as exc:
        raise ValueError(f"cannot start {program!r}: {exc.strerror or exc}") from None
    out: dict[str, Any] = {}
    readers = [threading.Thread(target=_capture, args=(proc.stdout, cap, out, "stdout")),
               threading.Thread(target=_capture, args=(proc.stderr, cap, out, "stderr"))]  # fmt: skip
    for t in readers:
        t.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_tree(proc.pid)
        proc.wait()
    for t in readers:
        t.join()
    result = {"returncode": proc.returncode, "stdout": out.get("stdout", ""), "stderr": out.get("stderr", ""),
              "command": list(command), "timed_out": timed_out}  # fmt: skip
    result["success"] = proc.returncode == 0 and not timed_out
    if timed_out:
        result["error"] = f"timed out after {timeout:g} s; the process tree was killed"
    elif proc.returncode != 0:
        result["error"] = f"exited with code {proc.returncode}"
    return result


def _status(params: Mapping[str, Any], artifacts_dir: Path, state_dir: Path) -> dict[str, Any]:
    from ztbkit.artifacts import load_artifacts
    from ztbkit.live import load_live_state, status_fields

    live = load_live_state(state_dir)
    response: dict[str, Any] = {
        "live": {"trade_state": live.state, "config": live.config, "stats": live.stats,
                 "summary": {f.name: f.value for f in status_fields(live)},
                 "problems": [str(p) for p in live.problems]},
    }  # fmt: skip
    limit = int(params.get("limit", 5))
    try:
        tree = load_artifacts(artifacts_dir)
        newest = sorted((s for s in tree.sessions if s.on_disk), key=lambda s: s.session_id, reverse=True)[
            :limit
        ]
        response["sessions"] = [
            {"id": s.session_id, "status": s.status, "global_step": s.global_step, "rl_sharpe": s.rl_sharpe,
             "gates": s.gate_verdict, "start_time": s.start_time.isoformat() if s.start_time else None}
            for s in newest
        ]  # fmt: skip
    except ZtbError as exc:
        response["sessions"] = []
        response["sessions_error"] = str(exc)
    return response


def handle(raw: str, *, artifacts_dir: Path, state_dir: Path, env: Mapping[str, str] | None = None,
           config: Path | None = None) -> dict[str, Any]:  # fmt: skip
    """One request (JSON text) → one response object. Never raises."""
    environ = os.environ if env is None else env
    try:
        request = json.loads(raw)
    except ValueError as exc:
        return {"success": False, "action": None, "error": f"invalid JSON request: {exc}"}
    if not isinstance(request, dict):
        return {
            "success": False,
            "action": None,
            "error": 'the request must be a JSON object with an "action"',
        }
    action = request.get("action")
    params = request.get("params") or {}
    if action not in ACTIONS:
        return {
            "success": False,
            "action": action,
            "error": f"unknown action {action!r} (known: {', '.join(ACTIONS)})",
        }
    if not isinstance(params, dict):
        return {"success": False, "action": action, "error": '"params" must be an object'}
    try:
        if action == "version":
            return {"success": True, "action": action, "version": __version__}
        if action == "status":
            return {"success": True, "action": action, **_status(params, artifacts_dir, state_dir)}
        if action == "doctor":
            from ztbkit.doctor import run_doctor

            cid = params.get("correlation_id")
            if not isinstance(cid, str) or not cid:
                raise ValueError("params.correlation_id is required")
            report = run_doctor(artifacts_dir, cid, total_steps=params.get("total_steps"))
            fails = report.counts()["FAIL"]
            out = {"success": fails == 0, "action": action, **report.to_json()}
            if fails:
                out["error"] = f"{fails} check(s) failed"
            return out
        command = params.get("command")
        if isinstance(command, str):
            raise ValueError("params.command must be an argument list, not a shell string")
        if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
            raise ValueError("params.command is required: a non-empty list of strings")
        timeout = params.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError("params.timeout must be a positive number of seconds")
        result = run_command(command, allowed=allow_list(environ, config), timeout=float(timeout))
        return {"action": action, **result}
    except (ValueError, ZtbError) as exc:
        return {"success": False, "action": action, "error": str(exc)}
