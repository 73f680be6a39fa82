"""Every CLI command × every hostile input: exit code per README, one line of error, no traceback.

The inputs (:data:`MUTATIONS`) are applied at once to every file the bot or the user hands ztbkit
(artifact JSON files, logs, TensorBoard event files, the live state files, the trends CSV, a tariff,
the scheduler state and job file, the TensorBoard cache, the outbox, an output path that exists
already). One session of the tree is mutated, another stays valid. Each command then runs on that
tree with the working directory inside it, and the test asserts, per cell:

* the exit code is the one README promises for that input (:func:`expected`);
* stderr holds at most one ``ztb: error:`` line and no ``Traceback``;
* the command ends within :data:`DEADLINE` seconds (FIFOs must not block: those cells run as real
  subprocesses with a timeout, the rest in-process through click's CliRunner to keep the matrix fast);
* nothing outside the work folder changed: a sentinel folder, target of the symlinks, is compared
  before and after, and nothing new appears beside the work folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import BOT_FIXTURES

from ztbkit.cli import cli

DEADLINE = 60.0  # generous: 2 shared cores; the documented budget is 10 s on an idle machine
GOOD, BAD = "20251001T000000Z", "20251002T000000Z"
HUGE = "9" * 5001
EVENT_FILE = "events.out.tfevents.1759551052.computer.16672.0"
# The scheduler's wall clock in the cronish cells (Debian's libfaketime, preloaded): 30 minutes past a
# slot of the hourly jobs below. On the real clock, within --grace-sec (120 s) after any full hour the
# slot was due and the job ran, and the lone-surrogate job's command ("true" + U+D800) cannot start:
# exit 1 where the table says 0.
CRONISH_NOW = "2026-06-15 12:30:00"
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

# The valid content of every input file, by path relative to the work folder.
VALID_JSON: dict[str, Any] = {
    "artifacts/index.json": {"sessions": [{"id": GOOD, "latest_step": 10}, {"id": BAD, "latest_step": 20}]},
    "summary.json": {"global_step": 1000, "rl_sharpe": 1.5, "dsr": 0.8, "p_value": 0.05,
                     "wall_clock_duration_hours": 2.5, "status": "completed"},
    "metrics.json": {"steps_per_sec": 10.0, "rl_sharpe": [0.1, 0.2], "elapsed_time": 9000},
    "run_metadata.json": {"duration_seconds": 9000, "gpu_count": 1, "gpu_model": "RTX 3060"},
    "reports/gates.json": {"gates": [{"name": "gate1", "status": "pass", "value": 1.5},
                                           {"name": "memory_rss", "status": "fail", "threshold": 2048}]},
    "reports/cost_estimate.json": {"total_cost_jpy": 12.5, "gpu_hours": 2.5},
    "state/trade-state.json": {"phase": 2, "consecutiveDays": 5, "totalSuccess": 3},
    "state/trade-config.json": {"phase": 2, "maxPhase": 4},
    "state/stats.json": {"totalTrades": 10, "wins": 6, "pnl": 1200.5},
    ".ztb/cronish-state.json": {"version": 1, "jobs": {"job": {"last_slot": "2025-10-01T00:00:00+09:00"}}},
    "jobs.json": {"name": "job", "command": ["true"], "interval_sec": 3600},
    "runs/.ztb-tb-cache.json": {"version": 1, "tags": None, "files": {}},
}  # fmt: skip
VALID_TEXT: dict[str, bytes] = {
    "logs/train.log": b"2025-10-01 00:00:00 INFO Step 10/100\n2025-10-01 01:00:00 ERROR boom\n",
    "trends.csv": b"session_id,global_step,rl_sharpe,dsr,p_value\n20251001T000000Z,10,1.5,0.8,0.05\n",
    "tariff.toml": b'name = "mine"\ncurrency = "JPY"\neffective_date = "2025-01-01"\nbase_fee_jpy = 10.0\n'
    b"flat_rate = false\n\n[[tiers]]\njpy_per_kwh = 31.5\n",
    "state/.ztb/ztb-outbox.jsonl": b'{"service": "discord", "url_hash": "x", "payload": {"content": "hi"}}\n',
    "out.txt": b"previous output\n",
    "out.md": b"# previous report\n",
}
SESSION_FILES = ("summary.json", "metrics.json", "run_metadata.json", "reports/gates.json",
                 "reports/cost_estimate.json", "logs/train.log")  # fmt: skip


def _numbers(value: Any, replace: Callable[[Any], Any]) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return replace(value)
    if isinstance(value, dict):
        return {k: _numbers(v, replace) for k, v in value.items()}
    return [_numbers(v, replace) for v in value]


def _strings(value: Any, replace: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return replace(value)
    if isinstance(value, dict):
        return {k: _strings(v, replace) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v, replace) for v in value]
    return value


class Raw(str):
    """A number already written as JSON text."""


def _dump(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    return json.dumps(value)


def mutate(kind: str, valid: bytes, doc: Any = None) -> bytes:
    """The hostile version of a file whose valid bytes are ``valid`` (``doc``: its JSON value)."""
    if kind == "empty":
        return b""
    if kind == "truncated":
        return valid[: max(1, len(valid) // 2)]
    if kind == "binary":
        return bytes(range(256)) * 4
    if kind == "huge_int":
        if doc is not None:
            return _dump(_numbers(doc, lambda _: Raw(HUGE))).encode()
        return valid.replace(b"10", HUGE.encode()).replace(b"31", HUGE.encode()) + HUGE.encode() + b"\n"
    if kind == "deep":
        return b"[" * 100_000 + b"]" * 100_000
    if kind == "nan":
        if doc is not None:
            return _dump(
                _numbers(doc, lambda v: Raw("NaN") if isinstance(v, float) else Raw("Infinity"))
            ).encode()
        return valid.replace(b"1.5", b"nan").replace(b"31", b"inf").replace(b"10", b"-inf")
    if kind == "non_utf8":
        return valid.replace(b"2", "２０".encode("cp932")).replace(b"e", b"\xe9") + "\n日本語\n".encode(
            "cp932"
        )
    if kind == "lone_surrogate":  # "\ud800", half a UTF-16 pair, in every string: valid JSON, no UTF-8
        if doc is not None:
            return json.dumps(_strings(doc, lambda v: v + "\ud800")).encode()  # ASCII: written as the escape
        if valid.startswith(b"{"):  # JSON lines
            return b"".join(json.dumps(_strings(json.loads(ln), lambda v: v + "\ud800")).encode() + b"\n"
                            for ln in valid.splitlines())  # fmt: skip
        return valid.replace(b'"mine"', b'"mine\\ud800"')  # TOML has the escape too (and refuses it)
    raise AssertionError(kind)


MUTATIONS = ("empty", "truncated", "binary", "huge_int", "deep", "nan", "non_utf8", "lone_surrogate", "fifo",
             "directory", "symlink_out")  # fmt: skip


def place(path: Path, kind: str, valid: bytes, doc: Any, sentinel: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink_out":
        target = sentinel / hashlib.sha1(str(path).encode()).hexdigest()
        target.write_bytes(valid)
        path.symlink_to(target)
    else:
        path.write_bytes(mutate(kind, valid, doc))


def build(work: Path, sentinel: Path, kind: str) -> None:
    """The work tree: GOOD valid, BAD and every other input mutated with ``kind``."""
    event = (BOT_FIXTURES / "tensorboard" / "evaluation" / EVENT_FILE).read_bytes()
    for sid in (GOOD, BAD):
        for name in SESSION_FILES:
            path = work / "artifacts" / sid / name
            if name in VALID_JSON:
                valid, doc = json.dumps(VALID_JSON[name]).encode(), VALID_JSON[name]
            else:
                valid, doc = VALID_TEXT[name], None
            if sid == GOOD:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(valid)
            else:
                place(path, kind, valid, doc, sentinel)
        tb = work / "artifacts" / sid / "tb" / EVENT_FILE
        tb.parent.mkdir(parents=True, exist_ok=True)
        tb.write_bytes(event)
    (work / "artifacts" / os.fsdecode(b"odd\xff-name")).mkdir()  # a non-UTF-8 folder name, always
    for rel in [r for r in VALID_JSON if r not in SESSION_FILES]:
        valid = json.dumps(VALID_JSON[rel]).encode()
        place(work / rel, kind, valid, VALID_JSON[rel], sentinel)
    for rel, valid in VALID_TEXT.items():
        if rel != "logs/train.log":
            place(work / rel, kind, valid, None, sentinel)
    place(work / "runs" / "run1" / EVENT_FILE, kind, event, None, sentinel)


# Each column: (name, argv, how it reads stdin, expected exit code by mutation (default under "*")).
OK, PROBLEM, BAD_INPUT = 0, 1, 2
COLUMNS: list[tuple[str, list[str], dict[str, Any]]] = [
    ("trends", ["trends", "--artifacts-dir", "artifacts", "--out", "outputs/trends.csv"], {"*": {OK}}),
    ("trends-md", ["trends-md", "--csv", "trends.csv", "--out", "outputs/trends.md"],
     {"*": {BAD_INPUT}, "truncated": {OK}, "huge_int": {OK}, "nan": {OK}, "lone_surrogate": {OK},
      "symlink_out": {OK}}),
    ("budget", ["budget", "--artifacts-dir", "artifacts", "--out", "outputs/budget.md"], {"*": {OK}}),
    ("budget --estimate-missing", ["budget", "--artifacts-dir", "artifacts", "--out", "outputs/b2.md",
                                   "--estimate-missing"], {"*": {OK}}),
    ("cost (bad session)", ["cost", "--correlation-id", BAD, "--artifacts-dir", "artifacts"],
     {"*": {PROBLEM}, "lone_surrogate": {OK}, "symlink_out": {OK}}),  # a GPU name with U+FFFD is priced
    ("cost --tariff", ["cost", "--correlation-id", GOOD, "--artifacts-dir", "artifacts", "--tariff", "tariff.toml",
                       "--out", "outputs/cost.md"],
     {"*": {BAD_INPUT}, "symlink_out": {OK}}),
    (
        "cost --out existing",
        ["cost", "--correlation-id", GOOD, "--artifacts-dir", "artifacts", "--out", "out.md"],
        {"*": {OK}, "fifo": {BAD_INPUT}, "directory": {BAD_INPUT}},  # a file there is replaced atomically
    ),
    ("doctor", ["doctor", "--correlation-id", BAD, "--artifacts-dir", "artifacts", "--state-file",
                ".ztb/cronish-state.json", "--json"], {"*": {OK, PROBLEM}}),  # 1 only when a check FAILs
    ("gates-alert --dry-run", ["gates-alert", "--correlation-id", BAD, "--artifacts-dir", "artifacts",
                               "--dry-run", "--state-dir", "state"],
     # an empty gates file is "no gates to check"; NaN values do not change a verdict
     # statuses "pass\ufffd"/"fail\ufffd" are each a warning naming the gate, not a broken file
     {"*": {BAD_INPUT}, "empty": {OK}, "nan": {OK}, "lone_surrogate": {OK}, "symlink_out": {OK}}),
    ("live-status --dry-run", ["live-status", "--state-dir", "state", "--dry-run"], {"*": {OK}}),
    # a FIFO or folder where the outbox belongs is a warning naming it; the count still answers
    ("notify (outbox count)", ["notify", "--state-dir", "state"], {"*": {OK}}),
    ("notify --check", ["notify", "--check", "--state-dir", "state"], {"*": {OK, PROBLEM}}),
    # every hostile live file is an alert of its own (dry run: printed), never a crash
    ("watch --once --dry-run", ["watch", "--once", "--dry-run", "--state-dir", "state"], {"*": {OK}}),
    ("silence list", ["silence", "list", "--state-dir", "state"], {"*": {OK}}),
    ("digest --dry-run", ["digest", "--dry-run", "--state-dir", "state", "--date", "2025-10-01"], {"*": {OK}}),
    ("nightly --skip-notebooks", ["nightly", "--artifacts-dir", "artifacts", "--out-dir", "outputs",
                                  "--skip-notebooks", "--date", "2025-10-01"], {"*": {OK}}),
    # runs/.ztb-tb-cache.json is where earlier versions kept the cache: now read once when ztbkit wrote
    # it, and a FIFO or folder of that name is the user's, left alone (#25: the cache moved out)
    ("tb-scrape", ["tb-scrape", "--run-dir", "runs", "--output", "outputs/tb.json"], {"*": {OK}}),
    ("tb-scrape --cache", ["tb-scrape", "--run-dir", "runs", "--output", "outputs/tb2.json", "--cache",
                           "runs/.ztb-tb-cache.json"],
     {"*": {OK}, "fifo": {BAD_INPUT}, "directory": {BAD_INPUT}}),  # the cache path cannot be written
    ("schedule-template --output", ["schedule-template", "--template", "nightly", "--output", "out.txt"],
     {"*": {OK}, "fifo": {BAD_INPUT}, "directory": {BAD_INPUT}}),
    ("cronish --config", ["cronish", "--config", "jobs.json", "--once", "--state-file", "outputs/cs.json",
                          "--stop-file", "outputs/stop"],
     {"*": {BAD_INPUT}, "lone_surrogate": {OK}, "symlink_out": {OK}}),  # job "job\ufffd": a name like any
    ("cronish --state-file", ["cronish", "--interval-sec", "3600", "--once", "--state-file",
                              ".ztb/cronish-state.json", "--stop-file", "outputs/stop", "--", "true"],
     # a FIFO or folder where the state file belongs is named (exit 2): the scheduler cannot keep state
     {"*": {OK}, "fifo": {BAD_INPUT}, "directory": {BAD_INPUT}}),
    ("trend-alert --dry-run", ["trend-alert", "--artifacts-dir", "artifacts", "--dry-run", "--state-dir", "state"],
     {"*": {OK}}),
    ("compat status", ["compat", "--state-dir", "state", "--artifacts-dir", "artifacts"], {"*": {OK}}),
    ("compat doctor", ["compat", "--artifacts-dir", "artifacts"], {"*": {OK, PROBLEM}}),
    ("demo --out-dir", ["demo", "--out-dir", "out.txt", "--sessions", "1"],
     {"*": {BAD_INPUT}, "directory": {OK}}),
    # Two runs side by side, and ztbkit's own notes file beside the sessions: hostile session files are
    # warnings and missing values, never a crash; the note and tag land in artifacts/.ztb/ whatever BAD holds.
    ("diff", ["diff", GOOD, BAD, "--artifacts-dir", "artifacts", "--json"], {"*": {OK}}),
    ("note", ["note", BAD, "looked at it", "--artifacts-dir", "artifacts"], {"*": {OK}}),
    ("tag", ["tag", BAD, "candidate", "--artifacts-dir", "artifacts"], {"*": {OK}}),
    ("dashboard", ["dashboard", "--artifacts-dir", "artifacts", "--out", "outputs/dashboard.html",
                   "--cell-timeout", "120"], {"*": {OK}}),
    ("report trends", ["report", "trends", "--artifacts-dir", "artifacts", "--out-dir", "outputs", "--date",
                       "2025-10-01", "--cell-timeout", "120"], {"*": {OK}}),
]  # fmt: skip
STDIN = {"compat status": b'{"action": "status", "params": {"limit": 10}}',
         "compat doctor": json.dumps({"action": "doctor", "params": {"correlation_id": BAD}}).encode()}  # fmt: skip
# Columns that start a kernel or child processes, or install signal handlers: always a real process.
SUBPROCESS = {"cronish --config", "cronish --state-file", "dashboard", "report trends", "demo --out-dir"}
# A notebook cell costs a kernel start (10-20 s here), so the notebook columns run on the inputs that
# reach the notebooks' own code (values and names: the files themselves are read by the same loader
# that trends/budget/nightly exercise on every input) and on the FIFO (a hang would be theirs too).
KERNEL_COLUMNS = {"dashboard", "report trends"}
KERNEL_INPUTS = {"huge_int", "nan", "non_utf8", "lone_surrogate", "fifo"}


def expected(column: str, kind: str) -> set[int]:
    table = next(t for n, _, t in COLUMNS if n == column)
    return set(table.get(kind, table["*"]))


def snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = f"{st.st_mode:o}:{st.st_size}:{st.st_mtime_ns}"
    return out


def run_cell(column: str, argv: list[str], work: Path, subprocess_: bool) -> tuple[int, str, float]:
    stdin = STDIN.get(column, b"")
    t0 = time.monotonic()
    if subprocess_:
        env = {**os.environ, "PYTHONUTF8": "1", "ZTB_DISCORD_WEBHOOK": "", "SLACK_WEBHOOK_URL": ""}
        if argv[0] == "cronish":  # a fixed wall clock: no slot is due now, so --once runs no job
            env.update(LD_PRELOAD=LIBFAKETIME, FAKETIME=f"@{CRONISH_NOW}", TZ="UTC")
        try:
            p = subprocess.run([sys.executable, "-m", "ztbkit", *argv], cwd=work, input=stdin, capture_output=True,
                               env=env, timeout=DEADLINE * 3)  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"{column}: still running after {DEADLINE * 3:g} s (blocked on a FIFO?)")
        return p.returncode, p.stderr.decode("utf-8", "replace"), time.monotonic() - t0
    old = Path.cwd()
    os.chdir(work)
    try:
        result = CliRunner().invoke(
            cli, argv, input=stdin, env={"ZTB_DISCORD_WEBHOOK": "", "SLACK_WEBHOOK_URL": ""}
        )
    finally:
        os.chdir(old)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        stderr += "Traceback\n" + "".join(traceback.format_exception(result.exception))
    return result.exit_code, stderr, time.monotonic() - t0


@pytest.mark.parametrize("kind", MUTATIONS)
def test_every_command_survives_every_hostile_input(tmp_path: Path, kind: str) -> None:
    os.environ.pop("ZTB_SCHEDULED_FOR", None)
    sentinel, work = tmp_path / "sentinel", tmp_path / "work"
    sentinel.mkdir()
    work.mkdir()
    build(work, sentinel, kind)
    before, beside = snapshot(sentinel), sorted(p.name for p in tmp_path.iterdir())
    failures = []
    for column, argv, _ in COLUMNS:
        if column in KERNEL_COLUMNS and kind not in KERNEL_INPUTS:
            continue
        real_process = column in SUBPROCESS or kind == "fifo"
        code, stderr, took = run_cell(column, argv, work, real_process)
        errors = [ln for ln in stderr.splitlines() if ln.startswith("ztb: error:")]
        why = []
        if code not in expected(column, kind):
            why.append(f"exit {code}, expected {sorted(expected(column, kind))}")
        if "Traceback" in stderr:
            why.append("traceback")
        if len(errors) > 1:
            why.append(f"{len(errors)} error lines")
        if code == BAD_INPUT and column not in ("compat status", "compat doctor") and len(errors) != 1:
            why.append("exit 2 without a one-line 'ztb: error:' message")
        if took > DEADLINE:
            why.append(f"took {took:.0f} s")
        if why:
            failures.append(f"{column} × {kind}: {', '.join(why)}\n    stderr: {stderr.strip()[-600:]}")
    assert snapshot(sentinel) == before, "something was written outside the work folder (sentinel changed)"
    assert sorted(p.name for p in tmp_path.iterdir()) == beside, "something appeared beside the work folder"
    assert not failures, "\n".join(failures)


#: Commands that read no file the bot or a user hands them (``kernel install`` registers a kernel,
#: ``dsr`` computes from its flags, ``lab`` copies the shipped notebooks into its own workspace: its
#: --dir is in the path test below).
READS_NO_INPUT = {"kernel", "dsr", "lab"}


def test_matrix_covers_every_command() -> None:
    covered = {argv[0] for _, argv, _ in COLUMNS} | READS_NO_INPUT | {"lab"}  # lab: OUTPUT_COMMANDS below
    assert covered == set(cli.commands), f"commands not in the matrix: {set(cli.commands) - covered}"


OUTPUT_COMMANDS = {
    "trends": ["trends", "--artifacts-dir", "artifacts", "--out"],
    "trends-md": ["trends-md", "--csv", "trends.csv", "--out"],
    "budget": ["budget", "--artifacts-dir", "artifacts", "--out"],
    "cost": ["cost", "--correlation-id", GOOD, "--artifacts-dir", "artifacts", "--out"],
    "tb-scrape": ["tb-scrape", "--run-dir", "runs", "--output"],
    "schedule-template": ["schedule-template", "--template", "nightly", "--output"],
    "dashboard": ["dashboard", "--artifacts-dir", "artifacts", "--out"],
    "demo": ["demo", "--sessions", "1", "--out-dir"],
    "report": ["report", "trends", "--artifacts-dir", "artifacts", "--date", "2025-10-01", "--out-dir"],
    "lab": ["lab", "--prepare-only", "--dir"],  # reads only the packaged notebooks: its input is its folder
}


@pytest.mark.parametrize("command", sorted(OUTPUT_COMMANDS))
def test_bad_output_paths_are_exit_2_one_line_naming_the_path(tmp_path: Path, command: str) -> None:
    work, sentinel = tmp_path / "work", tmp_path / "sentinel"
    work.mkdir()
    sentinel.mkdir()
    build(work, sentinel, "symlink_out")  # every input valid (through symlinks)
    (work / "folder.md").mkdir()
    (work / "afile").write_text("x", encoding="utf-8")
    suffix = ".md" if command == "cost" else ""
    for bad in ("folder.md", f"afile/x{suffix}", f"afile/deeper/x{suffix}", f"/sys/ztb-test/x{suffix}"):
        if command in ("demo", "report", "lab") and bad == "folder.md":
            continue  # an existing folder is what these take
        before = snapshot(work)
        code, stderr, _ = run_cell(
            command, [*OUTPUT_COMMANDS[command], bad], work, command in ("demo", "report", "lab")
        )
        assert code == 2 and stderr.startswith("ztb: error: ") and stderr.count("\n") == 1, (bad, stderr)
        assert bad.split("/")[-1] in stderr and "Traceback" not in stderr, stderr
        assert snapshot(work) == before, f"{command} {bad}: something was written"


DEEP_PATH = "/".join(["d"] * 2000)  # 2,000 folders in 3,999 characters: under PATH_MAX
LONG_PATH = "L" * 5000  # one 5,000-character name
#: Per command, arguments that run it on the work tree; each path option is then given a hostile path.
PATH_BASE: dict[str, list[str]] = {
    "budget": ["budget", "--artifacts-dir", "artifacts", "--out", "outputs/b.md"],
    "compat": ["compat", "--artifacts-dir", "artifacts", "--state-dir", "state"],
    "cost": ["cost", "--correlation-id", GOOD, "--artifacts-dir", "artifacts", "--out", "outputs/c.md"],
    "cronish": ["cronish", "--interval-sec", "3600", "--once", "--state-file", "outputs/cs.json", "--stop-file",
                "outputs/stop", "--log-dir", "outputs/logs", "--", "true"],
    "dashboard": ["dashboard", "--artifacts-dir", "artifacts", "--out", "outputs/d.html", "--cell-timeout", "120"],
    "demo": ["demo", "--sessions", "1", "--out-dir", "outputs/demo"],
    "doctor": ["doctor", "--correlation-id", GOOD, "--artifacts-dir", "artifacts", "--state-file",
               ".ztb/cronish-state.json"],
    "gates-alert": ["gates-alert", "--correlation-id", GOOD, "--artifacts-dir", "artifacts", "--dry-run",
                    "--state-dir", "state"],
    "lab": ["lab", "--prepare-only", "--dir", "outputs/lab"],
    "live-status": ["live-status", "--dry-run", "--state-dir", "state"],
    "nightly": ["nightly", "--artifacts-dir", "artifacts", "--out-dir", "outputs", "--skip-notebooks", "--date",
                "2025-10-01"],
    "notify": ["notify", "--state-dir", "state"],
    "report": ["report", "trends", "--artifacts-dir", "artifacts", "--out-dir", "outputs", "--date", "2025-10-01"],
    "schedule-template": ["schedule-template", "--template", "nightly", "--output", "outputs/s.txt"],
    "tb-scrape": ["tb-scrape", "--run-dir", "runs", "--output", "outputs/tb.json", "--cache", "outputs/c.json"],
    "trend-alert": ["trend-alert", "--artifacts-dir", "artifacts", "--dry-run", "--state-dir", "state"],
    "trends": ["trends", "--artifacts-dir", "artifacts", "--out", "outputs/t.csv"],
    "trends-md": ["trends-md", "--csv", "trends.csv", "--out", "outputs/t.md"],
}  # fmt: skip
#: Options that name something ztbkit writes: a path it cannot use there is always exit 2. (doctor
#: only reads --state-file; cronish makes --log-dir when a job first runs, and --once ran none here.)
WRITTEN = {"--out", "--output", "--out-dir", "--state-file", "--cache", "--dir"}


def _path_cells() -> list[tuple[str, str]]:
    import click

    cells = []
    for name in PATH_BASE:
        for param in cli.commands[name].params:
            if isinstance(param, click.Option) and param.type.name == "path":
                option = param.opts[-1]
                if name == "cronish" and option == "--config":
                    continue  # --config replaces the command; its file is in the mutation matrix above
                if name == "report" and option == "--out-dir":
                    continue  # checked before the kernel starts, as every output in OUTPUT_COMMANDS
                cells.append((name, option))
    return cells


@pytest.mark.parametrize("path", [DEEP_PATH, LONG_PATH], ids=["2000-deep", "5000-chars"])
@pytest.mark.parametrize(("command", "option"), _path_cells())
def test_a_path_too_deep_or_too_long_is_exit_2_one_line_naming_it(
    tmp_path: Path, command: str, option: str, path: str
) -> None:
    """#25 case 5: a very deep path printed a RecursionError traceback (exit 1) in six commands."""
    work, sentinel = tmp_path / "work", tmp_path / "sentinel"
    work.mkdir()
    sentinel.mkdir()
    build(work, sentinel, "truncated")
    argv = list(PATH_BASE[command])
    hostile = f"{path}/x.md" if option in ("--out", "--output", "--state-file", "--cache") else path
    if option in argv:
        argv[argv.index(option) + 1] = hostile
    else:
        argv[1:1] = [option, hostile]
    before = snapshot(work)
    stdin = b'{"action": "status"}' if command == "compat" else b""
    STDIN.setdefault(command, stdin)
    code, stderr, _ = run_cell(command, argv, work, command in SUBPROCESS | {"cronish", "demo", "dashboard"})
    errors = [ln for ln in stderr.splitlines() if ln.startswith("ztb: error:")]
    assert "Traceback" not in stderr and "RecursionError" not in stderr, stderr[-800:]
    assert len(errors) <= 1, stderr[-800:]
    if option in WRITTEN and (command, option) != ("doctor", "--state-file"):
        assert code == 2, (code, stderr[-800:])
    if code == 2:
        assert len(errors) == 1 and path[:40] in errors[0], stderr[-800:]
    created = [k for k in set(snapshot(work)) - set(before) if k == "d" or k.startswith(("d/", "LLL"))]
    assert created == [], created[:3]
