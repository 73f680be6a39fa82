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

from ztbkit.cli.compat import handle


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
        (
            {"action": "run", "params": {"command": ["ztb", "trends"], "timeout": float("nan")}},
            "positive number",
        ),
        (
            {"action": "run", "params": {"command": ["ztb", "trends"], "timeout": float("inf")}},
            "positive number",
        ),
        ({"action": "run", "params": {"command": ["ztb", "trends"], "timeout": 0}}, "positive number"),
        ({"action": "run", "params": {"command": ["ztb", "trends"], "timeout": 86400}}, "at most 3600"),
        ({"action": "run", "params": {"command": ["ztb", "trends"], "timeout": True}}, "positive number"),
        ({"action": "status", "params": {"limit": "5"}}, "params.limit must be an integer"),
        ({"action": "status", "params": {"limit": -1}}, "params.limit must be an integer"),
        ({"action": "doctor", "params": {"correlation_id": "/abs"}}, "contains a path separator"),
        ({"action": "doctor", "params": {"correlation_id": "../../x"}}, "contains a path separator"),
        ({"action": "doctor", "params": {"correlation_id": "x", "total_steps": float("nan")}}, "total_steps"),
        ('{"action": "\\ud800"}', "lone surrogate"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"action": "status", "params": {"limit": ' + "9" * 5001 + "}}", "invalid JSON request"),
        ({"action": "doctor"}, "params.correlation_id is required"),
    ]:
        response = ask(request, tmp_path)
        assert response["success"] is False and error in response["error"] and "action" in response


def test_run_allow_list(tmp_path: Path) -> None:
    ok = ask({"action": "run", "params": {"command": ["ztb", "--version"]}}, tmp_path)
    assert ok["success"] and ok["returncode"] == 0 and ok["stdout"] == "ztb, version 0.1.0\n"
    refused = ask({"action": "run", "params": {"command": [sys.executable, "-c", "print(1)"]}}, tmp_path)
    assert refused["success"] is False and "refused by rule 'allow-list'" in refused["error"]
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
    failing = ask({"action": "run", "params": {"command": ["ztb", "trends", "--artifacts-dir", "nope"]}}, tmp_path,
                  env={"ZTB_COMPAT_ROOTS": "."})  # fmt: skip
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
                       capture_output=True, text=True, encoding="utf-8")  # fmt: skip
    assert p.returncode == code and json.loads(p.stdout)["success"] is (code == 0)


def snapshot(folder: Path) -> dict[str, tuple[int, float]]:
    """Every path under ``folder`` with its size and mtime (folders too)."""
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime) for p in folder.rglob("*")}


def escape_requests(outside: Path, root: Path) -> list[tuple[list[str], str, dict[str, str]]]:
    """(command, expected rule, env) for every way out of the allow-list we know of."""
    sentinel = outside / "pwned"
    victim = str(outside / "victim.txt")
    link = root / "link"  # a symlink inside the artifacts folder pointing outside it
    sh = ["sh", "-c", f"id > {sentinel}"]
    report = "report-commands-only"
    paths = "paths-inside-roots"
    known = "known-options-only"
    return [
        (
            ["ztb", "cronish", "--interval-sec", "1", "--state-file", str(outside / "s.json"), "--", *sh],
            report,
            {},
        ),
        (["ztb", "cronish", "--once", "--interval-sec", "1", "--", *sh], report, {"ZTB_COMPAT_ALLOW": "ztb"}),
        (
            ["ztb", "cronish", "--once", "--interval-sec", "1", "--", *sh],
            report,
            {"ZTB_COMPAT_ALLOW": "ztb,ZTB"},
        ),
        (["ztb", "--help", "cronish"], report, {}),
        (["ztb", "gates-alert", "--correlation-id", "x", "--webhook", "http://127.0.0.1:9/"], report, {}),
        (["ztb", "live-status", "http://127.0.0.1:9/"], report, {}),
        (["ztb", "notify", "--flush-outbox"], report, {}),
        (["ztb", "trend-alert"], report, {}),
        (["ztb", "demo", "--out-dir", str(outside / "demo")], report, {}),
        (["ztb", "nightly", "--out-dir", str(outside / "n")], report, {}),
        (["ztb", "trends", "--artifacts-dir", str(root), "--out", victim], paths, {}),
        (["ztb", "trends", "--artifacts-dir", str(root), f"--out={victim}"], paths, {}),
        (["ztb", "trends", "--artifacts-dir", str(root), "--outp", victim], known, {}),
        (["ztb", "trends", "--artifacts-dir", str(root), "--ou", victim], known, {}),
        (["ztb", "trends", "--artifacts-dir", str(root), "--out", str(link / "victim.txt")], paths, {}),
        (
            ["ztb", "trends", "--artifacts-dir", str(root), "--out", str(root / ".." / "victim.txt")],
            paths,
            {},
        ),
        (["ztb", "trends", "--artifacts-dir", str(outside)], paths, {}),
        (["ztb", "trends", "--artifacts-dir", "s3://bucket/x"], paths, {}),
        (["ztb", "trends", "--", "--out", victim], known, {}),
        (["ztb", "trends", "-vx"], known, {}),
        (
            [
                "ztb",
                "schedule-template",
                "--template",
                "nightly",
                "--output",
                str(outside / "new/dir/x.conf"),
            ],
            paths,
            {},
        ),
        (["ztb", "trends-md", "--csv", str(root / "t.csv"), "--out", victim], paths, {}),
        (["ztb", "trends-md", "--csv", "/etc/passwd"], paths, {}),
        (["ztb", "tb-scrape", "--run-dir", str(root), "--cache", str(outside / "c.json")], paths, {}),
        (["ztb", "tb-scrape", "--run-dir", str(outside)], paths, {}),
        (["ztb", "tb-scrape", "--run-dir", str(root), "--output", victim], paths, {}),
        (
            [
                "ztb",
                "cost",
                "--correlation-id",
                "a",
                "--artifacts-dir",
                str(root),
                "--tariff",
                str(outside / "t.toml"),
            ],
            paths,
            {},
        ),
        (
            [
                "ztb",
                "cost",
                "--correlation-id",
                "a",
                "--artifacts-dir",
                str(root),
                "--out",
                str(outside / "c.md"),
            ],
            paths,
            {},
        ),
        (["ztb", "budget", "--artifacts-dir", str(root), "--out", victim], paths, {}),
        (["ztb", "dashboard", "--artifacts-dir", str(root), "--out", str(outside / "d.html")], paths, {}),
        (
            ["ztb", "report", "trends", "--artifacts-dir", str(root), "--out-dir", str(outside / "r")],
            paths,
            {},
        ),
        (
            ["ztb", "doctor", "--correlation-id", "a", "--artifacts-dir", str(root), "--state-file", victim],
            paths,
            {},
        ),
        (["ztb", "report", "trends", "--date"], known, {}),
        (
            ["ztb", "report", "trends", "--artifacts-dir", str(root), "-p", "artifacts_dir", str(outside)],
            known,
            {},
        ),
        (
            ["ztb", "report", "trends", "--artifacts-dir", str(root), "--parameter", "artifacts_dir", "/"],
            known,
            {},
        ),
        (["sh", "-c", f"id > {sentinel}"], "allow-list", {}),
        ([str(outside / "sh"), "-c", "1"], "allow-list", {"ZTB_COMPAT_ALLOW": "sh"}),
    ]


def test_every_known_escape_is_refused_and_nothing_runs(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree({"a": {"summary.json": {"global_step": 1}}})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("precious\n", encoding="utf-8")
    (root / "link").symlink_to(outside, target_is_directory=True)
    # A config trying to re-admit ztb wholesale: ignored, ztb always goes through the capability rules.
    config = write(tmp_path / "compat.json", {"allow": ["ztb", ["ztb", "cronish"], "/usr/bin/ztb"]})
    before_outside, before_root = snapshot(outside), snapshot(root)
    for command, rule, env in escape_requests(outside, root):
        response = ask({"action": "run", "params": {"command": command, "timeout": 4}}, tmp_path, env=env,
                       artifacts=root, config=config)  # fmt: skip
        assert response["success"] is False, command
        assert response["error"].startswith(f"refused by rule {rule!r}"), (command, response["error"])
        assert "returncode" not in response, command  # refused before anything started
    assert not (outside / "pwned").exists()
    assert (outside / "victim.txt").read_text(encoding="utf-8") == "precious\n"
    assert snapshot(outside) == before_outside and snapshot(root) == before_root


def test_report_commands_inside_the_roots_still_run(tmp_path: Path, make_tree: MakeTree) -> None:
    root = make_tree({"20251001T000000Z": {"summary.json": {"global_step": 5, "rl_sharpe": 1.0}}})
    out = root / "sub" / "t.csv"
    response = ask({"action": "run", "params": {"command": ["ztb", "trends", f"--artifacts-dir={root}", "--out",
                                                            str(out)]}}, tmp_path, artifacts=root)  # fmt: skip
    assert response["success"] and response["returncode"] == 0 and response["signal"] is None, response
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("20251001T000000Z,5,")
    extra = tmp_path / "extra"
    md = ask({"action": "run", "params": {"command": ["ztb", "trends-md", "--csv", str(out), "--out",
                                                      str(extra / "t.md")]}},
             tmp_path, artifacts=root, env={"ZTB_COMPAT_ROOTS": str(extra)})  # fmt: skip
    assert md["success"] and "20251001T000000Z" in (extra / "t.md").read_text(encoding="utf-8")
    assert ask({"action": "run", "params": {"command": ["ztb", "cost", "--correlation-id", "x", "--tariff",
                                                        "simple", "--artifacts-dir", str(root)]}},
               tmp_path, artifacts=root)["returncode"] == 2  # fmt: skip


def test_killed_command_reports_the_signal(tmp_path: Path) -> None:
    code = "import os, signal; print('bye', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    killed = ask({"action": "run", "params": {"command": [sys.executable, "-c", code]}}, tmp_path,
                 env={"ZTB_COMPAT_ALLOW": sys.executable})  # fmt: skip
    assert killed["success"] is False and killed["returncode"] == -9 and killed["signal"] == "SIGKILL"
    assert killed["error"] == "killed by SIGKILL" and killed["stdout"] == "bye\n"


DAEMON = """
import os, sys, time
if os.fork() == 0:
    if {setsid}:
        os.setsid()
    if os.fork() == 0:
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(120)
        os._exit(0)
    os._exit(0)
time.sleep({main_sleep})
"""


@pytest.mark.parametrize(("setsid", "main_sleep", "timeout"), [(False, 0, 60), (True, 0, 60), (True, 60, 2)])
def test_double_forked_children_holding_the_pipe_are_killed(tmp_path: Path, setsid: bool, main_sleep: int,
                                                           timeout: int) -> None:  # fmt: skip
    import psutil

    pid_file = tmp_path / "daemon.pid"
    code = DAEMON.format(setsid=setsid, main_sleep=main_sleep)
    t0 = time.monotonic()
    response = ask({"action": "run", "params": {"command": [sys.executable, "-c", code, str(pid_file)],
                                                "timeout": timeout}}, tmp_path,
                   env={"ZTB_COMPAT_ALLOW": sys.executable})  # fmt: skip
    assert time.monotonic() - t0 < 45, "compat waited on a pipe held by a daemon"
    assert response["timed_out"] is (main_sleep > 0)
    daemon = int(pid_file.read_text(encoding="utf-8"))
    deadline = time.monotonic() + 30
    while psutil.pid_exists(daemon) and psutil.Process(daemon).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the double-forked child survived"
        time.sleep(0.1)


def run_cli(stdin: bytes | Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    import os

    base = {**os.environ, "PYTHONIOENCODING": "cp932", **(env or {})}
    cmd = [sys.executable, "-m", "ztbkit", "compat", "--state-dir", str(tmp_path), *args]
    if isinstance(stdin, Path):
        with open(stdin, "rb") as fh:
            return subprocess.run(cmd, stdin=fh, capture_output=True, env=base, timeout=60)
    return subprocess.run(cmd, input=stdin, capture_output=True, env=base, timeout=60)


def strict(stdout: bytes) -> dict[str, Any]:
    """The answer, parsed by a strict JSON parser (NaN/Infinity refused), ASCII only, one line."""

    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    assert stdout.isascii() and stdout.count(b"\n") == 1, stdout[:200]
    value = json.loads(stdout, parse_constant=refuse)
    assert isinstance(value, dict)
    return value


def test_cli_always_answers_one_strict_json_object(tmp_path: Path, make_tree: MakeTree) -> None:
    make_tree({"a": {"summary.json": {"global_step": 1}}})
    write(
        tmp_path / "trade-state.json", '{"phase": NaN, "x": -Infinity, "deep": ' + "[" * 200 + "]" * 200 + "}"
    )
    write(tmp_path / "stats.json", '{"d": ' + "[" * 1000 + "]" * 1000 + "}")
    write(tmp_path / "trade-config.json", '{"big": ' + "7" * 5001 + "}")
    arts = ["--artifacts-dir", str(tmp_path / "artifacts")]
    cases: list[tuple[bytes | Path, bool, str]] = [
        (b'{"action":"status","params":{"limit":null}}', True, ""),
        (b'{"action":"status","params":{"limit":1e999}}', False, "params.limit"),
        (b"[" * 100_000, False, "nested"),
        (b'{"action":"\\ud800"}', False, "lone surrogate"),
        (b'{"action":"run","params":{"command":["ztb","trends"],"timeout":NaN}}', False, "timeout"),
        (b'{"action":"run","params":{"command":["ztb","trends"],"timeout":Infinity}}', False, "timeout"),
        (b'\xef\xbb\xbf{"action":"version"}', True, ""),
        ('{"action":"ヘルプ"}'.encode("cp932"), False, "not UTF-8"),
        ('{"action":"ヘルプ"}'.encode(), False, "unknown action"),
        (Path("/dev/zero"), False, "larger than"),
        (b"", False, "invalid JSON"),
    ]
    for stdin, ok, error in cases:
        t0 = time.monotonic()
        p = run_cli(stdin, tmp_path, *arts)
        assert time.monotonic() - t0 < 60
        answer = strict(p.stdout)
        assert answer["success"] is ok and p.returncode == (0 if ok else 1), (stdin, answer)
        assert error in answer.get("error", ""), (stdin, answer)
        assert b"Traceback" not in p.stderr
    status = strict(run_cli(b'{"action":"status"}', tmp_path, *arts).stdout)
    assert status["live"]["trade_state"]["phase"] is None and status["live"]["trade_state"]["x"] is None
    assert "nested too deeply" in json.dumps(status["live"]["trade_state"]["deep"])
    assert status["sessions"][0]["id"] == "a"
    assert "ヘルプ" in strict(run_cli('{"action":"ヘルプ"}'.encode(), tmp_path).stdout)["error"]


def test_windows_code_pages_request_and_child_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Japanese Windows imitated: the locale's code page is cp932 (faked), the request and a child's output too."""
    import locale

    from ztbkit.core.captured import decode_output

    request = '{"action": "doctor", "params": {"correlation_id": "学習ラン"}}'.encode("cp932")
    utf8_locale = handle(request, artifacts_dir=tmp_path, state_dir=tmp_path, env={})
    assert utf8_locale["success"] is False and "not UTF-8" in utf8_locale["error"]
    monkeypatch.setattr(locale, "getpreferredencoding", lambda do_setlocale=True: "cp932")
    answer = handle(request, artifacts_dir=tmp_path, state_dir=tmp_path, env={})
    assert "no session folder" in answer["error"] and "学習ラン" in answer["error"]
    assert decode_output("エラー: 失敗しました\n".encode("cp932")) == "エラー: 失敗しました\n"
    assert decode_output("日本語".encode()) == "日本語"  # UTF-8 first (PYTHONUTF8=1 children)
    assert decode_output("日本語".encode()[:-1], cut=True) == "日本"  # a character cut by the cap


@pytest.mark.parametrize("encoding", ["cp932", "cp1252", "ascii"])
def test_answer_prints_on_any_console_code_page(tmp_path: Path, encoding: str) -> None:
    import os

    write(tmp_path / "trade-state.json", {"phase": 2, "note": "🤖 ¥1,000 – 日本語"})
    p = run_cli(b'{"action": "status"}', tmp_path, env={"PYTHONIOENCODING": encoding})
    answer = strict(p.stdout)
    assert p.returncode == 0 and answer["live"]["trade_state"]["note"] == "🤖 ¥1,000 – 日本語"
    assert b"Traceback" not in p.stderr and os.fsencode("\\u") in p.stdout


def test_children_run_in_utf8_mode(tmp_path: Path) -> None:
    # The text is escaped in the argument (ASCII argv works under any locale, EUC-JP included); the child
    # must still print it as UTF-8.
    text = "'\\u65e5\\u672c\\u8a9e \\xa5 \\U0001f916'"
    code = f"import os, sys; print(os.environ.get('PYTHONUTF8'), sys.stdout.encoding, {text})"
    answer = ask({"action": "run", "params": {"command": [sys.executable, "-c", code], "timeout": 60}}, tmp_path,
                 env={"ZTB_COMPAT_ALLOW": sys.executable})  # fmt: skip
    assert answer["success"] and answer["stdout"] == "1 utf-8 日本語 ¥ 🤖\n", answer


def test_config_prefixes_are_exact_argument_prefixes(tmp_path: Path) -> None:
    config = write(tmp_path / "compat.json", {"allow": [[sys.executable, "-c", "print('ok')"]]})
    ok = ask(
        {"action": "run", "params": {"command": [sys.executable, "-c", "print('ok')"]}},
        tmp_path,
        config=config,
    )
    assert ok["success"] and ok["stdout"] == "ok\n"
    for other in ([sys.executable, "-c", "print('no')"], [sys.executable, "-c"], [sys.executable]):
        refused = ask({"action": "run", "params": {"command": other}}, tmp_path, config=config)
        assert refused["error"].startswith("refused by rule 'allow-list'") and "returncode" not in refused
    broken = write(tmp_path / "broken.json", b"{")
    answer = ask({"action": "run", "params": {"command": ["ztb", "--version"]}}, tmp_path, config=broken)
    assert answer["success"] is False and answer["error"].startswith("--config: ")
