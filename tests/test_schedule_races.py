"""cronish under real processes: races repeated, kill -9 mid-job, stop latency, exit codes.

Every count comes from the job's own output: the job appends ``start <ZTB_SCHEDULED_FOR> <time>``
and ``end ...`` lines, so "one run per slot, never overlapping" is checked on what actually ran.
Waits are for observable events (a line in a file, a process exit) with generous deadlines.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

REPEAT = 20
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
JST = timedelta(hours=9)
NOON = "2026-06-15 12:00:00"  # a fixed wall clock, far from any daily slot (runner(at=...))


def job_cmd(out: Path, hold: float = 0.3, extra: str = "") -> list[str]:
    """A job that logs its start and end (with the wall time) to ``out``."""
    script = (f'echo "start $ZTB_SCHEDULED_FOR $(date +%s.%N) $$" >> {out}; {extra} sleep {hold}; '
              f'echo "end $ZTB_SCHEDULED_FOR $(date +%s.%N) $$" >> {out}')  # fmt: skip
    return ["/bin/sh", "-c", script]


def write_config(d: Path, cmd: list[str], **sched: object) -> Path:
    cfg = d / "jobs.json"
    cfg.write_text(json.dumps({"jobs": [{"name": "job", "command": cmd, **sched}]}), encoding="utf-8")
    return cfg


def seed(d: Path, name: str, last_slot: datetime) -> Path:
    state = d / ".ztb" / "cronish-state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps({"version": 1, "jobs": {name: {"last_slot": last_slot.isoformat()}}}), encoding="utf-8"
    )
    return state


def runner(d: Path, *args: str, offset: float | None = None, at: str | None = None) -> subprocess.Popen[str]:
    """``ztb cronish ARGS`` in folder ``d``; with ``offset``, its wall clock shifted by Debian faketime;
    with ``at`` ("2026-06-15 12:00:00", UTC), its wall clock starts there whatever the real hour (Debian's
    libfaketime preloaded into the runner itself: its pid is the runner's, and a faketime around the
    whole suite does not shift it further)."""
    cmd = [sys.executable, "-m", "ztbkit", "cronish", *args]
    if offset is not None:
        cmd = ["faketime", "-f", f"{offset:+.0f}s", *cmd]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if at is not None:
        env.update(LD_PRELOAD=LIBFAKETIME, FAKETIME=f"@{at}", TZ="UTC")
    env.pop("ZTB_DISCORD_WEBHOOK", None)
    env.pop("SLACK_WEBHOOK_URL", None)
    return subprocess.Popen(
        cmd, cwd=d, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, encoding="utf-8"
    )


def wait_for(cond: Callable[[], bool], what: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def text(p: Path) -> str:
    return p.read_text(encoding="utf-8") if p.exists() else ""


def runs(out: Path) -> tuple[Counter[str], list[tuple[float, float]]]:
    """(starts per slot, [(start, end)] per run) from the job's own lines; asserts every run ended."""
    starts: dict[str, float] = {}
    per_slot: Counter[str] = Counter()
    spans: list[tuple[float, float]] = []
    for line in text(out).splitlines():
        kind, slot, t, pid = line.split()
        if kind == "start":
            per_slot[slot] += 1
            starts[pid] = float(t)
        else:
            spans.append((starts.pop(pid), float(t)))
    return per_slot, sorted(spans)


def assert_never_overlapping(spans: list[tuple[float, float]]) -> None:
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"two runs overlapped: {spans}"


def finish(*procs: subprocess.Popen[str]) -> str:
    return "".join(p.communicate(timeout=120)[0] for p in procs)


# ---------------------------------------------------------------- one run per slot


def test_two_once_runners_started_together_run_each_slot_once(tmp_path: Path) -> None:
    """Two `--once` runners released at the same instant, repeated: each due slot runs exactly once."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    offset = (hour + timedelta(minutes=30)).timestamp() - time.time()  # both runners see hh:30
    for rep in range(REPEAT):
        d = tmp_path / f"rep{rep}"
        d.mkdir()
        out = d / "out.txt"
        cfg = write_config(d, job_cmd(out, hold=0.2), interval_sec=3600)
        seed(d, "job", hour - timedelta(hours=3))
        gate = d / "go"
        cmd = ["faketime", "-f", f"{offset:+.0f}s", sys.executable, "-m", "ztbkit", "cronish", "--config", str(cfg),
               "--max-catchup", "2", "--once"]  # fmt: skip
        procs = [subprocess.Popen(  # both wait at the gate, so they race from the same instant
            ["/bin/sh", "-c", f'while [ ! -e {gate} ]; do sleep 0.005; done; exec "$@"', "sh", *cmd],
            cwd=d, encoding="utf-8", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)]  # fmt: skip
        time.sleep(0.05)
        gate.write_text("", encoding="utf-8")
        log = finish(*procs)
        per_slot, spans = runs(out)
        expected = {(hour - timedelta(hours=h)).isoformat() for h in (0, 1)}
        assert per_slot == Counter(dict.fromkeys(expected, 1)), (rep, per_slot, log)
        assert_never_overlapping(spans)
        assert all(p.returncode == 0 for p in procs), log


def test_long_running_runners_share_slots_and_one_state_file(tmp_path: Path) -> None:
    """Pairs of long-running runners on one state file: every slot at most once, never overlapping,
    and a `--once` runner of another job name in the same folder keeps its state entry."""
    batches, pairs = 4, 5  # 20 repetitions, five pairs at a time
    for batch in range(batches):
        folders = []
        procs = []
        for pair in range(pairs):
            d = tmp_path / f"b{batch}p{pair}"
            d.mkdir()
            cfg = write_config(d, job_cmd(d / "out.txt", hold=0.2), interval_sec=1)
            folders.append(d)
            procs += [runner(d, "--config", str(cfg), "--max-catchup", "1") for _ in range(2)]
        for d in folders:  # let each pair run at least two slots, then add another job name
            wait_for(lambda d=d: text(d / "out.txt").count("end ") >= 2, "two runs", 90)
        others = [runner(d, "--name", "b", "--interval-sec", "3600", "--once", "--", "true") for d in folders]
        assert [b.wait(timeout=60) for b in others] == [0] * pairs
        for d in folders:
            wait_for(lambda d=d: text(d / "out.txt").count("end ") >= 4, "four runs", 90)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        log = finish(*procs)
        for d in folders:
            per_slot, spans = runs(d / "out.txt")
            assert max(per_slot.values()) == 1 and len(per_slot) >= 4, (per_slot, log)
            assert_never_overlapping(spans)
            state = json.loads(text(d / ".ztb" / "cronish-state.json"))["jobs"]
            assert set(state) == {"job", "b"}, state  # neither runner erased the other job's entry


def test_runner_in_cooldown_and_a_late_runner_run_each_slot_once(tmp_path: Path) -> None:
    """The issue's case on a shifted clock: last run 13:00 JST, A starts 15:30 JST with two catch-ups
    and a cooldown; B starts while A cools down. 14:00 and 15:00 run once each, in order."""
    day = datetime.now(UTC).date() + timedelta(days=2)
    at = datetime(day.year, day.month, day.day, 15, 30, tzinfo=UTC) - JST
    offset = at.timestamp() - time.time()
    for rep in range(REPEAT):
        d = tmp_path / f"rep{rep}"
        d.mkdir()
        out = d / "out.txt"
        cfg = write_config(d, job_cmd(out, hold=0.2), cron="0 * * * *")
        seed(d, "job", at - timedelta(hours=2, minutes=30))
        args = ["--config", str(cfg), "--max-catchup", "2", "--catchup-cooldown-sec", "1.5", "--once"]
        a = runner(d, *args, offset=offset)
        wait_for(lambda out=out: "end " in text(out), "A's first run to end")  # A is now cooling down
        b = runner(d, *args, offset=offset)
        log = finish(a, b)
        per_slot, spans = runs(out)
        assert per_slot == Counter({f"{day}T14:00:00+09:00": 1, f"{day}T15:00:00+09:00": 1}), (rep, log)
        assert_never_overlapping(spans)


def test_second_runner_names_the_lock_holder(tmp_path: Path) -> None:
    """B starts while A's job is provably running (it waits for a file), so B must see the lock.

    The three runners' wall clocks start at midday UTC of a fixed day (libfaketime): on the real clock,
    a run in the first --grace-sec (120 s) after 00:00 UTC had yesterday's daily slot as a catch-up
    *and* today's as due, two runs where the count below says one."""
    out, release = tmp_path / "out.txt", tmp_path / "release"
    cmd = job_cmd(out, hold=0, extra=f"while [ ! -e {release} ]; do sleep 0.05; done;")
    cfg = write_config(tmp_path, cmd, interval_sec=86400)
    seed(tmp_path, "job", datetime(2020, 1, 1, tzinfo=UTC))
    a = runner(tmp_path, "--config", str(cfg), "--max-catchup", "1", "--once", at=NOON)
    wait_for(lambda: "start " in text(out), "A's job to start")
    b = runner(tmp_path, "--config", str(cfg), "--max-catchup", "1", "--once", at=NOON)
    b_out = b.communicate(timeout=60)[0]
    release.write_text("", encoding="utf-8")
    a_out = a.communicate(timeout=60)[0]
    assert f"job: skipped: another runner (pid {a.pid}) holds its lock" in b_out, b_out
    assert b.returncode == 0 and a.returncode == 0 and sum(runs(out)[0].values()) == 1
    assert runs(out)[0] == Counter({"2026-06-15T00:00:00+00:00": 1}), text(out)  # the fixed day's slot
    assert "died holding the lock" not in a_out + b_out  # nobody died: no takeover is claimed
    c = runner(tmp_path, "--config", str(cfg), "--max-catchup", "1", "--once", at=NOON)  # after A's exit
    assert "died holding the lock" not in c.communicate(timeout=60)[0]


# ---------------------------------------------------------------- kill -9 of the runner


def test_kill_9_of_the_runner_kills_its_job_and_the_restart_cleans_up_first(tmp_path: Path) -> None:
    out, gc_pid, own_pid = tmp_path / "out.txt", tmp_path / "grandchild.pid", tmp_path / "own-session.pid"
    # The job first checks that no process of an earlier run survives, then starts a grandchild in
    # its process group (it outlives a PDEATHSIG to the leader alone) and one in a session of its
    # own (as Jupyter kernels are), and waits.
    check = "".join(f'if [ -f {f} ] && kill -0 "$(cat {f})" 2>/dev/null; then echo "overlap x 0 0" >> {out}; fi; '
                    for f in (gc_pid, own_pid))  # fmt: skip
    extra = f"{check} sleep 300 & echo $! > {gc_pid}; setsid sleep 301 & echo $! > {own_pid};"
    cfg = write_config(tmp_path, job_cmd(out, hold=300, extra=extra), interval_sec=3600)
    seed(tmp_path, "job", datetime.now(UTC) - timedelta(hours=3))
    a = runner(tmp_path, "--config", str(cfg), "--max-catchup", "1")
    wait_for(lambda: "start " in text(out) and text(own_pid).strip() != "", "the job and its grandchildren")
    leader, grandchild, own = int(text(out).split()[3]), int(text(gc_pid)), int(text(own_pid))
    pid_file = tmp_path / ".ztb" / "locks" / "job.pid"

    def recorded() -> bool:
        try:
            return own in [pid for pid, _ in json.loads(text(pid_file)).get("descendants", [])]
        except ValueError:  # between writes there is no half-written file, but there may be none
            return False

    wait_for(recorded, "the runner to record the job's descendants")
    a.kill()  # kill -9: no handler, no cleanup
    a.communicate(timeout=30)
    wait_for(lambda: not alive(leader), "PDEATHSIG to kill the job's leader", 30)
    assert alive(grandchild) and alive(own)  # still there: only the next runner can clean these up
    b = runner(tmp_path, "--config", str(cfg), "--max-catchup", "1", "--once")
    wait_for(lambda: text(out).count("start ") == 2, "the restart to run the slot again")
    assert not alive(grandchild) and not alive(own)

    def b_recorded() -> bool:  # the pid file now describes B and its job only, nothing of A's
        try:
            rec = json.loads(text(pid_file))
        except ValueError:
            return False
        olds = {pid for pid, _ in rec.get("descendants", [])} & {grandchild, own}
        return rec.get("runner_pid") == b.pid and rec.get("job_pid") not in (None, leader) and not olds

    wait_for(b_recorded, "B's own pid file")
    b.send_signal(signal.SIGTERM)  # a clean stop cancels the new run with its whole tree
    b_out = b.communicate(timeout=30)[0]
    assert f"runner pid {a.pid} died holding the lock; killed its job's processes" in b_out, b_out
    assert "overlap" not in text(out)  # the old run was gone before the new one started
    state = json.loads(text(tmp_path / ".ztb" / "cronish-state.json"))["jobs"]["job"]
    assert state["status"] == "cancelled" and state["runs"] == 1
    assert not alive(int(text(gc_pid)))
    with contextlib.suppress(ProcessLookupError):  # the second run's own-session sleep is not in its tree
        os.kill(int(text(own_pid)), signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# ---------------------------------------------------------------- stopping


def idle_runner(d: Path) -> subprocess.Popen[str]:
    cfg = write_config(d, job_cmd(d / "out.txt"), interval_sec=3600)
    seed(d, "job", datetime.now(UTC))
    log = d / "runner.log"
    with open(log, "w", encoding="utf-8") as fh:
        p = subprocess.Popen([sys.executable, "-m", "ztbkit", "cronish", "--config", str(cfg)], cwd=d, encoding="utf-8",
                             stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    wait_for(lambda: "idle until" in text(log), "the runner to be idle")
    return p


def stop_latency(p: subprocess.Popen[str], stop: Callable[[], None]) -> tuple[float, str]:
    t0 = time.monotonic()
    stop()
    out = p.communicate(timeout=60)[0] or ""
    took = time.monotonic() - t0
    if not out and p.args[-1].endswith("jobs.json"):
        out = text(Path(p.args[-1]).parent / "runner.log")
    print(f"stop latency: {took:.2f} s")
    return took, out


@pytest.mark.parametrize("how", ["SIGTERM", "kill file"])
def test_idle_runner_stops_promptly(tmp_path: Path, how: str) -> None:
    p = idle_runner(tmp_path)
    if how == "SIGTERM":
        took, out = stop_latency(p, lambda: p.send_signal(signal.SIGTERM))
    else:
        took, out = stop_latency(p, lambda: (tmp_path / "ztb.stop").write_text("", encoding="utf-8"))
    # The promise is 2 s (a 0.5 s poll); the bound here leaves room for a loaded CI machine.
    assert p.returncode == 0 and "stopping:" in out and took < 10, (took, out)


def test_sigterm_during_catch_up_cooldown_starts_nothing_more(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    cfg = write_config(tmp_path, job_cmd(out, hold=0.1), interval_sec=3600)
    seed(tmp_path, "job", datetime.now(UTC) - timedelta(hours=4))
    p = runner(tmp_path, "--config", str(cfg), "--max-catchup", "3", "--catchup-cooldown-sec", "60")
    wait_for(lambda: "end " in text(out), "the first catch-up run to end")
    took, log = stop_latency(p, lambda: p.send_signal(signal.SIGTERM))
    assert p.returncode == 0 and took < 10, (took, log)
    assert text(out).count("start ") == 1, log  # the stop request came first: no new job after it


def test_kill_file_cancels_a_running_job(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    cfg = write_config(tmp_path, job_cmd(out, hold=300), interval_sec=3600)
    seed(tmp_path, "job", datetime.now(UTC) - timedelta(hours=2))
    p = runner(tmp_path, "--config", str(cfg), "--max-catchup", "1")
    wait_for(lambda: "start " in text(out), "the job to start")
    leader = int(text(out).split()[3])
    took, log = stop_latency(p, lambda: (tmp_path / "ztb.stop").write_text("", encoding="utf-8"))
    assert took < 30 and "kill file" in log and not alive(leader), log
    assert json.loads(text(tmp_path / ".ztb" / "cronish-state.json"))["jobs"]["job"]["status"] == "cancelled"


# ---------------------------------------------------------------- --once exit codes


@pytest.mark.parametrize(
    ("cmd", "extra", "code", "says"),
    [
        (["true"], [], 0, "ok (exit 0)"),
        (["/bin/sh", "-c", "exit 3"], [], 1, "failed (exit 3)"),
        (["sleep", "30"], ["--timeout-sec", "1"], 1, "timeout in"),
        (["/nonexistent/program"], [], 1, "error in"),
    ],
)
def test_once_exit_code_tells_cron_what_happened(
    tmp_path: Path, cmd: list[str], extra: list[str], code: int, says: str
) -> None:
    seed(tmp_path, "job", datetime.now(UTC) - timedelta(hours=2))
    p = runner(tmp_path, "--interval-sec", "3600", "--max-catchup", "1", "--once", *extra, "--", *cmd)
    out = p.communicate(timeout=60)[0]
    assert p.returncode == code and says in out and "Traceback" not in out, out
    if cmd[0] == "/nonexistent/program":
        assert "cannot start: [Errno 2] No such file or directory: '/nonexistent/program'" in out


def test_a_week_of_a_pc_that_is_off_some_nights(tmp_path: Path) -> None:
    """`--once` as cron/Task Scheduler would start it, on a shifted clock (Debian faketime): booted at
    odd times, off for whole days, twice started together. The 06:30 JST nightly runs once per day
    it is due or the newest missed, with ZTB_SCHEDULED_FOR naming its day; never twice."""
    out = tmp_path / "out.txt"
    cfg = write_config(tmp_path, job_cmd(out, hold=0.1), cron="30 6 * * *")
    week = datetime.now(UTC).date() + timedelta(days=10)

    def at(day: int, h: int, m: int, s: int = 0) -> float:
        d = week + timedelta(days=day)
        return (datetime(d.year, d.month, d.day, h, m, s, tzinfo=UTC) - JST).timestamp() - time.time()

    boots = [(0, 6, 31), (0, 12, 0), (2, 9, 15), (3, 6, 30, 30), (3, 6, 35), (6, 23, 59)]
    for i, boot in enumerate(boots):
        offset = at(*boot)
        together = 2 if i == 3 else 1  # day 3: two runners at once (a boot job and cron's first tick)
        procs = [runner(tmp_path, "--config", str(cfg), "--max-catchup", "1", "--once", offset=offset)
                 for _ in range(together)]  # fmt: skip
        log = finish(*procs)
        assert all(p.returncode == 0 for p in procs), log
    per_slot, spans = runs(out)
    expected = [week + timedelta(days=d) for d in (0, 2, 3, 6)]  # days 1, 4 and 5 are skipped or missed
    assert per_slot == Counter({f"{d}T06:30:00+09:00": 1 for d in expected}), per_slot
    assert_never_overlapping(spans)
