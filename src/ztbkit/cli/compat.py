"""``ztb compat``: one JSON request on stdin, one strict JSON object on stdout — for other programs.

Actions: ``status`` (the live bot status and the latest sessions; ``params.limit``, 0-1000, default
5), ``run`` (a command, see below), ``doctor`` (``params.correlation_id``, one path component) and
``version``. Every response is one JSON object with ``"success"`` and ``"action"``; failures carry a
readable ``"error"``. Exit 0 only on success.

The answer is always strict JSON: ASCII only (``\\u`` escapes, so any console code page prints it),
no ``NaN``/``Infinity`` (non-finite numbers become ``null``), integers too long to print and values
nested deeper than :data:`MAX_DEPTH` become strings. The request is read as bytes, at most
:data:`MAX_REQUEST_BYTES`, UTF-8 with or without a byte-order mark (bytes that are not UTF-8 are
decoded strictly in the locale's code page when that is not UTF-8: cp932 on Japanese Windows); lone
surrogates, deep nesting and anything else malformed are answered with an error object.

``run`` starts only what :mod:`ztbkit.cli.allowlist` allows (read-and-report ``ztb`` commands with
their paths inside the allowed roots, plus exact argument prefixes from the config or
``ZTB_COMPAT_ALLOW``), never through a shell. ``params.timeout`` (default 300 s, at most
:data:`MAX_TIMEOUT`) kills the whole process tree; see :mod:`ztbkit.core.captured` for the capture policy.
Commands run with ``ZTB_NO_CACHE=1`` (ztbkit keeps no cache) and with IPython's, Jupyter's,
matplotlib's and the cache folder pointed at a private temporary folder removed when the command
ends, so a run writes nothing outside the roots but its reports.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ztbkit import __version__
from ztbkit.core.errors import ZtbError
from ztbkit.core.jsonread import read_json
from ztbkit.core.values import is_finite_number

ACTIONS = ("status", "run", "doctor", "version")
#: Where the tools a command starts keep their own state, redirected for every ``run`` (see _run).
TOOL_STATE_ENV = {"IPYTHONDIR": "ipython", "JUPYTER_RUNTIME_DIR": "jupyter-runtime", "MPLCONFIGDIR": "matplotlib",
                  "XDG_CACHE_HOME": "cache"}  # fmt: skip
DEFAULT_TIMEOUT = 300.0
MAX_TIMEOUT = 3600.0
OUTPUT_CAP = 64 * 1024
MAX_REQUEST_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_LIMIT = 1000
_BOM = b"\xef\xbb\xbf"


def read_request(stream: Any, limit: int = MAX_REQUEST_BYTES) -> bytes | str:
    """At most ``limit`` bytes from a binary stream; an error message (str) when there are more."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        return f"the request is larger than {limit:,} bytes"
    return bytes(data)


def _param_error(message: str) -> ValueError:
    return ValueError(message)


def _limit(params: Mapping[str, Any]) -> int:
    limit = params.get("limit")
    if limit is None:
        return 5
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        raise _param_error(f"params.limit must be an integer from 0 to {MAX_LIMIT}")
    return limit


def _timeout(params: Mapping[str, Any]) -> float:
    timeout = params.get("timeout")
    if timeout is None:
        return DEFAULT_TIMEOUT
    if not is_finite_number(timeout) or not 0 < timeout <= MAX_TIMEOUT:
        raise _param_error(f"params.timeout must be a positive number of seconds, at most {MAX_TIMEOUT:g}")
    return float(timeout)


def _status(params: Mapping[str, Any], artifacts_dir: Path, state_dir: Path) -> dict[str, Any]:
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.notify.live import load_live_state, status_fields

    limit = _limit(params)
    live = load_live_state(state_dir)
    response: dict[str, Any] = {
        "live": {"trade_state": live.state, "config": live.config, "stats": live.stats,
                 "summary": {f.name: f.value for f in status_fields(live)},
                 "problems": [str(p) for p in live.problems]},
    }  # fmt: skip
    try:
        tree = load_artifacts(artifacts_dir)
        newest = sorted((s for s in tree.sessions if s.on_disk), key=lambda s: s.session_id, reverse=True)
        response["sessions"] = [
            {"id": s.session_id, "status": s.status, "global_step": s.global_step, "rl_sharpe": s.rl_sharpe,
             "gates": s.gate_verdict, "start_time": s.start_time.isoformat() if s.start_time else None}
            for s in newest[:limit]
        ]  # fmt: skip
    except ZtbError as exc:
        response["sessions"] = []
        response["sessions_error"] = str(exc)
    return response


def _doctor(params: Mapping[str, Any], artifacts_dir: Path) -> dict[str, Any]:
    from ztbkit.core.ids import check_component
    from ztbkit.ops.doctor import run_doctor

    cid = params.get("correlation_id")
    if not isinstance(cid, str) or not cid:
        raise ValueError("params.correlation_id is required")
    check_component(cid, "params.correlation_id")
    total = params.get("total_steps")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 1):
        raise ValueError("params.total_steps must be a positive integer")
    report = run_doctor(artifacts_dir, cid, total_steps=total)
    fails = report.counts()["FAIL"]
    out = {"success": fails == 0, **report.to_json()}
    if fails:
        out["error"] = f"{fails} check(s) failed"
    return out


def _run(params: Mapping[str, Any], artifacts_dir: Path, env: Mapping[str, str],
         config: Path | None) -> dict[str, Any]:  # fmt: skip
    from ztbkit.cli.allowlist import CHILD_ENV, build_policy, check_command
    from ztbkit.core.captured import run_captured

    command = params.get("command")
    if isinstance(command, str):
        raise ValueError("params.command must be an argument list, not a shell string")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise ValueError("params.command is required: a non-empty list of strings")
    timeout = _timeout(params)
    config_value = None
    if config is not None:
        read = read_json(config)
        if not read.ok:
            raise ValueError(f"--config: {read.problem}")
        config_value = read.value
    child_env = {**os.environ, **CHILD_ENV}  # caches off: nothing written outside the roots
    check_command(command, build_policy(env, config_value, artifacts_dir), child_env)
    # -P: the working folder is not put on sys.path, so a ztbkit/ or click.py planted there never runs.
    argv = [sys.executable, "-P", "-m", "ztbkit", *command[1:]] if command[0] == "ztb" else list(command)
    with tempfile.TemporaryDirectory(prefix="ztb-compat-") as private:
        # What the tools under a report keep for themselves (IPython's history, Jupyter's connection
        # files, matplotlib's and fontconfig's caches) goes to a private folder removed afterwards,
        # never to the user's home.
        child_env.update({name: os.path.join(private, sub) for name, sub in TOOL_STATE_ENV.items()})
        try:
            result = run_captured(argv, timeout=timeout, cap=OUTPUT_CAP, env=child_env)
        except OSError as exc:
            raise ValueError(f"cannot start {command[0]!r}: {exc.strerror or exc}") from None
    code, sig = result["returncode"], result["signal"]
    result["command"] = list(command)
    result["success"] = code == 0 and not result["timed_out"]
    if result["timed_out"]:
        result["error"] = f"timed out after {timeout:g} s; the process tree was killed"
    elif sig is not None:
        result["error"] = f"killed by {sig}"
    elif code != 0:
        result["error"] = f"exited with code {code}"
    return result


def _decode(raw: bytes | str) -> Any:
    """The request object, or raise ValueError with the reason."""
    text = raw if isinstance(raw, str) else ""
    if isinstance(raw, bytes):
        data = raw[len(_BOM) :] if raw.startswith(_BOM) else raw
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = _decode_locale(data, exc)
    try:
        request = json.loads(text)
    except RecursionError:
        raise ValueError("invalid JSON request: nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"invalid JSON request: {exc}") from None
    _check_text(request, 0)
    return request


def _decode_locale(raw: bytes, exc: UnicodeDecodeError) -> str:
    """A request that is not UTF-8 in the console's code page (cp932 from a Japanese Windows
    program), decoded strictly; anything else is refused."""
    import codecs
    import locale

    encoding = locale.getpreferredencoding(False) or "utf-8"
    try:
        if codecs.lookup(encoding).name != "utf-8":
            return raw.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        pass
    raise ValueError(f"the request is not UTF-8 (bad byte at offset {exc.start})") from None


def _check_text(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"the request is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("the request contains a lone surrogate (\\ud800-\\udfff) in a string") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, depth + 1)
            _check_text(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_text(v, depth + 1)


def handle(raw: bytes | str, *, artifacts_dir: Path, state_dir: Path, env: Mapping[str, str] | None = None,
           config: Path | None = None) -> dict[str, Any]:  # fmt: skip
    """One request (JSON bytes or text) → one response object. Never raises."""
    environ = os.environ if env is None else env
    try:
        request = _decode(raw)
    except ValueError as exc:
        return {"success": False, "action": None, "error": str(exc)}
    if not isinstance(request, dict):
        return {
            "success": False,
            "action": None,
            "error": 'the request must be a JSON object with an "action"',
        }
    action = request.get("action")
    params = request.get("params")
    params = {} if params is None else params
    if action not in ACTIONS:
        return {"success": False, "action": action,
                "error": f"unknown action {action!r} (known: {', '.join(ACTIONS)})"}  # fmt: skip
    if not isinstance(params, dict):
        return {"success": False, "action": action, "error": '"params" must be an object'}
    try:
        if action == "version":
            return {"success": True, "action": action, "version": __version__}
        if action == "status":
            return {"success": True, "action": action, **_status(params, artifacts_dir, state_dir)}
        if action == "doctor":
            return {"action": action, **_doctor(params, artifacts_dir)}
        return {"action": action, **_run(params, artifacts_dir, environ, config)}
    except (ValueError, ZtbError) as exc:
        return {"success": False, "action": action, "error": str(exc)}
    except Exception as exc:  # the promise is one JSON answer, whatever went wrong
        return {"success": False, "action": action, "error": f"internal error: {type(exc).__name__}: {exc}"}


def sanitise(value: Any, depth: int = 0) -> Any:
    """``value`` made fit for strict JSON (see the module policy)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if value.bit_length() < 4000 else f"<integer of {value.bit_length()} bits>"
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH:
        return "<nested too deeply>"
    if isinstance(value, Mapping):
        return {str(k): sanitise(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitise(v, depth + 1) for v in value]
    return str(value)


def dumps_response(response: Mapping[str, Any]) -> str:
    """One line of strict, ASCII-only JSON for ``response``; never raises."""
    try:
        return json.dumps(sanitise(response), ensure_ascii=True, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        fallback = {
            "success": False,
            "action": None,
            "error": f"internal error: cannot encode the answer: {exc}",
        }
        return json.dumps(fallback, ensure_ascii=True)
