"""Issue 24, "nothing fails in silence": each way the unattended nightly could stop, stall or lose an
alert, run the way the world does it — real ``ztb cronish`` processes with their wall clock shifted
by Debian faketime, a real SIGTERM and a real kill file, the local fake Discord webhook, a real
read-only tmpfs mount, the shipped recipes read as files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeTree
from fakehook import TOKEN, FakeHook, Reply

ROOT = Path(__file__).resolve().parents[1]
ZTB = [sys.executable, "-m", "ztbkit"]
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def offset_to(at: datetime) -> str:
    """A faketime offset that puts the wall clock at ``at`` (it keeps ticking from there)."""
    return f"{(at - datetime.now(UTC)).total_seconds():+.0f}s"


def cronish(d: Path, at: datetime, hook: str | None, *args: str) -> subprocess.Popen[str]:
    """``ztb cronish ARGS`` in folder ``d`` with its wall clock at ``at`` and a clean environment."""
    env = {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1", "TZ": "UTC", "HOME": str(d),
           "LD_PRELOAD": LIBFAKETIME, "FAKETIME": offset_to(at)}  # fmt: skip
    if hook:
        env["ZTB_DISCORD_WEBHOOK"] = hook
    cmd = [*ZTB, "cronish", *args]  # Debian's libfaketime preloaded: signals reach the runner itself
    return subprocess.Popen(cmd, cwd=d, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            encoding="utf-8")  # fmt: skip


def wait_for(cond: Callable[[], bool], what: str, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def nightly_args(d: Path, job: str) -> list[str]:
    return ["--cron", "30 6 * * *", "--name", "nightly", "--max-catchup", "1", "--stop-file", str(d / "ztb.stop"),
            "--once", "--shell", "--", job]  # fmt: skip


def state(d: Path) -> dict[str, Any]:
    doc = json.loads((d / ".ztb" / "cronish-state.json").read_text(encoding="utf-8"))
    return dict(doc["jobs"]["nightly"])


def slow_job(d: Path) -> str:
    """A nightly that says when it started and what slot it is for, then takes its time."""
    return f'echo "$ZTB_SCHEDULED_FOR" >> {d}/started; sleep 60; echo "$ZTB_SCHEDULED_FOR" >> {d}/done'


def quick_job(d: Path) -> str:
    return f'echo "$ZTB_SCHEDULED_FOR" >> {d}/done'


DUE = datetime(2025, 10, 3, 21, 30, 20, tzinfo=UTC)  # 06:30:20 JST on 10-04: the 06:30 slot is due
NIGHT_SLOT = "2025-10-04T06:30:00+09:00"


@pytest.mark.parametrize("how", ["SIGTERM", "kill file"])
def test_case1_a_stop_during_the_nightly_is_a_missed_slot_made_up_next_start_and_alerted(
    tmp_path: Path, hook_server: FakeHook, how: str
) -> None:
    """Case 1: a stop mid-run used to record the slot as done ("cancelled") and never re-run it."""
    d = tmp_path
    p = cronish(d, DUE, hook_server.url(), *nightly_args(d, slow_job(d)))
    wait_for(lambda: (d / "started").exists(), "the nightly to start")
    if how == "SIGTERM":
        p.send_signal(signal.SIGTERM)
    else:
        (d / "ztb.stop").touch()
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out  # a requested stop is not a failure of the runner
    assert f"nightly: slot {NIGHT_SLOT} cancelled" in out and "counts as missed" in out
    entry = state(d)
    assert (entry["status"], entry["missed_slot"]) == ("cancelled", NIGHT_SLOT)
    assert "last_slot" not in entry or entry["last_slot"] < NIGHT_SLOT
    assert hook_server.titles == ["Scheduled job nightly cancelled"]
    embed = hook_server.seen[0].body["embeds"][0]
    log_field = next(f["value"] for f in embed["fields"] if f["name"] == "Log")
    assert log_field == str(d / ".ztb" / "logs" / "nightly.log")  # case 12: the folder, not just the name
    assert "nightly: cancel alert delivered" in out and TOKEN not in out
    (d / "ztb.stop").unlink(missing_ok=True)
    # the next start, 40 minutes later: the cut slot runs again, for its own day
    p2 = cronish(d, DUE.replace(minute=10, hour=22), hook_server.url(), *nightly_args(d, quick_job(d)))
    out2, _ = p2.communicate(timeout=120)
    assert p2.returncode == 0, out2
    assert (d / "done").read_text(encoding="utf-8").split() == [NIGHT_SLOT], out2
    assert "catch-up 1 of 1" in out2
    assert state(d)["status"] == "ok" and "missed_slot" not in state(d)


def test_case8_a_forgotten_kill_file_warns_on_every_start_and_alerts_once_a_day(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    """Case 8: a kill file left in place used to make every --once exit 0 silently, forever."""
    d = tmp_path
    (d / "ztb.stop").touch()
    outs = []
    for at in (DUE, DUE.replace(minute=40), DUE.replace(hour=23)):  # three starts on the same JST day
        p = cronish(d, at, hook_server.url(), *nightly_args(d, quick_job(d)))
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 1, out
        outs.append(out)
    for out in outs:
        assert f"warning: the kill file {d / 'ztb.stop'} is present (since " in out
        assert "no job runs until it is removed" in out
    assert hook_server.titles == ["Scheduler stopped by a kill file"]  # once that day, not three times
    assert not (d / "done").exists()
    nxt = cronish(d, DUE.replace(day=4, hour=22), hook_server.url(), *nightly_args(d, quick_job(d)))
    out, _ = nxt.communicate(timeout=120)
    assert nxt.returncode == 1 and len(hook_server.titles) == 2, out  # the next JST day: again
    (d / "ztb.stop").unlink()
    ok = cronish(d, DUE.replace(day=4), hook_server.url(), *nightly_args(d, quick_job(d)))
    out, _ = ok.communicate(timeout=120)
    assert ok.returncode == 0 and "kill file" not in out, out


def test_case10_a_job_log_is_capped_while_the_job_runs(tmp_path: Path) -> None:
    """Case 10: logs were rotated only between runs; a job printing 3 MB in one night kept all 3 MB."""
    d = tmp_path
    loud = f"{shlex.quote(sys.executable)} -c \"import sys; [sys.stdout.write('x' * 99 + chr(10)) for _ in range(30000)]\""
    p = cronish(d, DUE, None, "--log-max-mb", "0.1", *nightly_args(d, loud))
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    logs = sorted((d / ".ztb" / "logs").iterdir())
    assert [x.name for x in logs] == ["nightly.log", "nightly.log.1", "nightly.log.2", "nightly.log.3"]
    cap = int(0.1 * 2**20)
    assert sum(x.stat().st_size for x in logs) <= 4 * (cap + 200)  # bounded: 4 files of the limit
    assert all(x.stat().st_size <= cap + 200 for x in logs)
    assert "=== log rotated at" in (d / ".ztb" / "logs" / "nightly.log.1").read_text(encoding="utf-8")
    assert "=== continued from nightly.log.1" in (d / ".ztb" / "logs" / "nightly.log").read_text(
        encoding="utf-8"
    )
    assert "its log reached" in out


def test_case2_every_recipe_and_template_bounds_the_jobs_time(tmp_path: Path) -> None:
    """Case 2: the cron recipe had no --timeout-sec, so one hung nightly blocked every later night."""
    from ztbkit.schedule.job import load_jobs

    cron_lines = [
        ln for ln in (ROOT / "ops" / "cron" / "crontab.example").read_text(encoding="utf-8").splitlines()
        if ln and not ln.startswith(("#", "SHELL"))
    ]  # fmt: skip
    assert cron_lines
    for line in cron_lines:
        # ztb watch --once bounds itself: each delivery and heartbeat ping has its own deadline, and
        # the whole send its delivery budget (ZTB_DELIVERY_BUDGET_SEC); every other job has a timeout.
        bounded = ("ztb cronish" in line and "--timeout-sec" in line) or "/ztb watch --once " in line
        assert bounded, line
        assert "mail" not in line.lower()
    cron_text = (ROOT / "ops" / "cron" / "crontab.example").read_text(encoding="utf-8")
    assert "cron mails the output" not in cron_text  # case 12: every line sends its output to a file
    jobs = json.loads((ROOT / "ops" / "systemd" / "jobs.example.json").read_text(encoding="utf-8"))["jobs"]
    assert all(isinstance(j.get("timeout_sec"), int | float) for j in jobs)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    r = subprocess.run([*ZTB, "schedule-template", "--template", "nightly", "--output", "n.json"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "n.json").read_text(encoding="utf-8"))["timeout_sec"] == 7200
    (job,) = load_jobs(tmp_path / "n.json")
    assert job.timeout_sec == 7200
    # a job file naming the template without its own bound gets the template's
    (tmp_path / "t.json").write_text(json.dumps({"template": "nightly"}), encoding="utf-8")
    assert load_jobs(tmp_path / "t.json")[0].timeout_sec == 7200


def test_case2_a_hung_job_is_killed_at_its_timeout_and_the_next_night_runs(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    d = tmp_path
    p = cronish(d, DUE, hook_server.url(), "--timeout-sec", "1", *nightly_args(d, slow_job(d)))
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 1 and f"slot {NIGHT_SLOT} timeout" in out, out
    assert hook_server.titles == ["Scheduled job nightly timeout"]
    nxt = cronish(
        d, DUE.replace(day=4), hook_server.url(), "--timeout-sec", "5", *nightly_args(d, quick_job(d))
    )
    out, _ = nxt.communicate(timeout=120)
    assert nxt.returncode == 0 and "2025-10-05T06:30:00+09:00" in (d / "done").read_text(encoding="utf-8"), (
        out
    )


@pytest.fixture
def ro_dir(tmp_path: Path) -> Iterator[Path]:
    """A real read-only folder: a tmpfs mounted read-only (root ignores file modes)."""
    where = tmp_path / "ro"
    where.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", str(where)], capture_output=True
    )
    assert r.returncode == 0, f"cannot mount a read-only tmpfs here: {r.stderr!r}"
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_case5_a_read_only_state_folder_still_sends_the_alert(
    tmp_path: Path, hook_server: FakeHook, ro_dir: Path
) -> None:
    """Case 5: the claim lock on a read-only folder used to stop the alert (exit 2, 0 requests)."""
    from ztbkit.notify import Alert, Outbox, payload_for, send_with_outbox
    from ztbkit.notify.delivery import result_line
    from ztbkit.notify.webhook import Webhook

    (tmp_path / "w").mkdir()
    outbox = Outbox(tmp_path / "w")  # made while writable, then the same folder seen read-only
    outbox.dir = outbox.spool = outbox.claims = ro_dir
    hook = Webhook(hook_server.url(), "discord", "test")
    warnings: list[str] = []
    outbox._warn = warnings.append
    report = send_with_outbox(hook, payload_for("discord", Alert("Gate failed", "ERROR")), outbox)
    assert report.result.delivered and hook_server.titles == ["Gate failed"]
    assert any("cannot queue the alert" in w for w in warnings)
    assert TOKEN not in result_line(report.result, hook)


def test_case6_an_alert_neither_queued_nor_sent_is_said_lost_never_kept(tmp_path: Path, ro_dir: Path) -> None:
    """Case 6: output said "failed, kept in the outbox to retry" for an alert that was in no file."""
    down = FakeHook(always=Reply(503))
    try:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ZTB_DISCORD_WEBHOOK": down.url(),
               "ZTB_DELIVERY_BUDGET_SEC": "3", "ZTB_WEBHOOK_TIMEOUT_SEC": "1"}  # fmt: skip
        r = subprocess.run([*ZTB, "live-status", "--state-dir", str(ro_dir)], env=env, capture_output=True,
                           text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    finally:
        down.close()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "kept in the outbox" not in r.stdout + r.stderr
    assert "LOST: not delivered to discord" in r.stdout and TOKEN not in r.stdout + r.stderr


def test_case7_a_flush_whose_outcomes_cannot_be_written_tries_each_alert_once_and_is_not_exit_2(
    tmp_path: Path, hook_server: FakeHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 7: a full disk at the outcome write used to re-send the oldest alert and stop (exit 2).
    ENOSPC is injected at the outcome write (a real full tmpfs would also refuse the queue itself)."""
    import errno

    from ztbkit.notify import Alert, Outbox, flush, payload_for
    from ztbkit.notify.webhook import Webhook

    outbox = Outbox(tmp_path / ".ztb")
    hook = Webhook(hook_server.url(), "discord", "test")
    for i in range(12):
        outbox.enqueue(hook, payload_for("discord", Alert(f"alert {i:02d}", "ERROR")))
    outbox.merge()

    def full(*_a: Any, **_k: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outbox, "record", full)
    warnings: list[str] = []
    outbox._warn = warnings.append
    results = flush(outbox)
    assert [r.delivered for _, r in results] == [True] * 12
    assert hook_server.titles == [f"alert {i:02d}" for i in range(12)]  # each once, oldest first
    assert any("cannot record the outcome" in w for w in warnings)


def test_case12_trend_alert_records_alerted_before_it_sends(make_tree: MakeTree, tmp_path: Path) -> None:
    """Case 12: one kill -9 after the server took the post used to give 3 posts (the record came after)."""
    slow = FakeHook()
    slow.script = [Reply(204, delay=30)]  # the server takes the post, then is slow to answer
    sessions: dict[str, dict[str, Any]] = {}
    index = []
    for i, v in enumerate([1.0, 1.1, 0.9, 1.05, 1.0, 0.2]):
        sid = f"run-{6 - i:02d}"
        sessions[sid] = {"summary.json": {"rl_sharpe": v, "dsr": 0.5}}
        index.append(
            {"correlation_id": sid, "created_at": f"2025-10-{i + 1:02d}T00:00:00+09:00", "status": "stopped"}
        )
    root = make_tree(sessions, index={"sessions": index})
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ZTB_DISCORD_WEBHOOK": slow.url(),
           "ZTB_WEBHOOK_TIMEOUT_SEC": "60"}  # fmt: skip
    cmd = [*ZTB, "trend-alert", "--artifacts-dir", str(root), "--state-dir", str(tmp_path)]
    try:
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
        wait_for(lambda: len(slow.seen) == 1, "the post to reach the server")
        p.kill()
        p.wait(timeout=30)
        for _ in range(2):
            subprocess.run(cmd, env=env, capture_output=True, timeout=300, cwd=tmp_path, check=False)
            subprocess.run([*ZTB, "notify", "--flush-outbox", "--state-dir", str(tmp_path)], env=env,
                           capture_output=True, timeout=300, cwd=tmp_path, check=False)  # fmt: skip
        assert 1 <= len(slow.seen) <= 2, [s.body for s in slow.seen]  # at most one extra copy
    finally:
        slow.close()
    recorded = json.loads((tmp_path / ".ztb" / "trend-alert-state.json").read_text(encoding="utf-8"))
    assert list(recorded["alerted"]) == ["run-01"]


def plain_env(d: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(d), "TZ": "UTC", "ZTB_DELIVERY_BUDGET_SEC": "3",
            "ZTB_WEBHOOK_TIMEOUT_SEC": "1", **extra}  # fmt: skip


def ztb(d: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ZTB, *args], cwd=d, env=env, capture_output=True, text=True, timeout=300)


def test_case3_what_the_scheduler_queued_under_systemd_notify_sees_and_flushes(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    """Case 3: cronish queued in /var/lib/ztb while `ztb notify` looked only in ./.ztb ("0 waiting")."""
    var_lib = tmp_path / "var-lib-ztb"  # what StateDirectory=ztb gives the unit
    var_lib.mkdir()
    srv = tmp_path / "srv"
    srv.mkdir()
    hook_server.always = Reply(503)  # Discord is down at 06:30
    unit_env = plain_env(srv, STATE_DIRECTORY=str(var_lib), ZTB_DISCORD_WEBHOOK=hook_server.url(),
                         LD_PRELOAD=LIBFAKETIME, FAKETIME=offset_to(DUE))  # fmt: skip
    r = subprocess.run([*ZTB, "cronish", "--cron", "30 6 * * *", "--name", "nightly", "--state-file",
                        str(var_lib / "cronish-state.json"), "--once", "--", "false"], cwd=srv, env=unit_env,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 1 and "failure alert failed, kept in the outbox" in r.stdout, r.stdout + r.stderr
    assert (var_lib / "ztb-outbox.spool").is_dir() or (var_lib / "ztb-outbox.jsonl").is_file()
    # the admin, from /srv/ztb, with ZTB_HOME from /etc/ztb/env (README: Running it every night)
    admin = plain_env(srv, ZTB_HOME=str(var_lib))
    seen = ztb(srv, admin, "notify")
    assert seen.returncode == 0 and f"1 alert(s) waiting in {var_lib / 'ztb-outbox.jsonl'}" in seen.stdout, (
        seen.stdout
    )
    hook_server.always = None
    sent = ztb(srv, admin, "notify", "--flush-outbox")
    assert sent.returncode == 0 and "1 delivered, 0 still waiting" in sent.stdout, sent.stdout + sent.stderr
    assert hook_server.titles[-1] == "Scheduled job nightly failed"


def test_case4_a_queued_alert_goes_out_with_the_next_unattended_command(
    tmp_path: Path, hook_server: FakeHook, make_tree: MakeTree
) -> None:
    """Case 4: an alert queued while the webhook was down waited through later good nights."""
    d = tmp_path
    hook_server.always = Reply(503)
    env = plain_env(d, ZTB_DISCORD_WEBHOOK=hook_server.url(), LD_PRELOAD=LIBFAKETIME, FAKETIME=offset_to(DUE))
    r = subprocess.run([*ZTB, "cronish", *nightly_args(d, "exit 3")], cwd=d, env=env, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert r.returncode == 1 and "kept in the outbox" in r.stdout, r.stdout
    posts_while_down = len(hook_server.seen)
    hook_server.always = None  # Discord is back; the next night is a good one
    env["FAKETIME"] = offset_to(DUE.replace(day=4))
    ok = subprocess.run([*ZTB, "cronish", *nightly_args(d, quick_job(d))], cwd=d, env=env, capture_output=True,
                        text=True, timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "outbox: 1 delivered, 0 still waiting" in ok.stdout, ok.stdout
    assert (
        len(hook_server.seen) == posts_while_down + 1
        and hook_server.titles[-1] == "Scheduled job nightly failed"
    )
    # gates-alert with passing gates and trend-alert with nothing new flush too
    for cmd in (["gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(d / "artifacts"), "--state-dir", str(d)],
                ["trend-alert", "--artifacts-dir", str(d / "artifacts"), "--state-dir", str(d)]):  # fmt: skip
        make_tree({"s1": {"reports/gates.json": {"gates": [{"name": "sharpe", "status": "pass"}]}}})
        hook_server.always = Reply(503)
        down = plain_env(d, ZTB_DISCORD_WEBHOOK=hook_server.url())
        q = ztb(d, down, "live-status", "--state-dir", str(d))
        assert q.returncode == 1 and "kept in the outbox" in q.stdout, q.stdout + q.stderr
        hook_server.always = None
        before = len(hook_server.seen)
        out = ztb(d, plain_env(d, ZTB_DISCORD_WEBHOOK=hook_server.url()), *cmd)
        assert "outbox: 1 delivered, 0 still waiting" in out.stdout, (cmd, out.stdout, out.stderr)
        assert len(hook_server.seen) == before + 1


def unit_values(name: str, key: str) -> list[str]:
    text = (ROOT / "ops" / "systemd" / name).read_text(encoding="utf-8")
    return [
        v for line in text.splitlines() if line.startswith(f"{key}=") for v in line.split("=", 1)[1].split()
    ]


def writable(name: str) -> list[Path]:
    """What a unit lets its processes write: ReadWritePaths plus /var/lib and /var/cache of
    StateDirectory= and CacheDirectory=."""
    out = [Path(p) for p in unit_values(name, "ReadWritePaths")]
    out += [Path("/var/lib") / p for p in unit_values(name, "StateDirectory")]
    out += [Path("/var/cache") / p for p in unit_values(name, "CacheDirectory")]
    return out


def inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def test_case11_every_path_a_systemd_job_writes_is_inside_what_its_unit_allows() -> None:
    """Case 11: the live-status job wrote /srv/bot/.ztb, read-only under ProtectSystem=strict (a new
    Discord message every 5 minutes plus a failure alert)."""
    from ztbkit.core.statedir import ztb_dir

    for name in ("ztb-live.service", "ztb-nightly.service"):
        roots = writable(name)
        assert unit_values(name, "ProtectSystem") == ["strict"]
        env = {"STATE_DIRECTORY": "/var/lib/" + unit_values(name, "StateDirectory")[0]}
        ztb_home = ztb_dir(None, env)
        assert inside(ztb_home, roots), (name, ztb_home)  # outbox, scheduler state, logs, status id
        cache = dict(v.split("=", 1) for v in unit_values(name, "Environment") if "=" in v).get(
            "XDG_CACHE_HOME"
        )
        assert cache is not None and inside(Path(cache), roots)
        exec_start = " ".join(unit_values(name, "ExecStart"))
        for flag in ("--state-file", "--out-dir", "--stop-file"):
            for value in re.findall(rf"{flag} (\S+)", exec_start):
                assert inside(Path(value).parent if flag != "--out-dir" else Path(value), roots), (
                    name,
                    value,
                )
        assert "--timeout-sec" in exec_start or "--config /etc/ztb/jobs.json" in exec_start  # per job there
    jobs = json.loads((ROOT / "ops" / "systemd" / "jobs.example.json").read_text(encoding="utf-8"))["jobs"]
    roots = writable("ztb-live.service")
    for job in jobs:
        argv = job["ztb"]
        for flag in ("--out-dir", "--artifacts-dir"):
            if flag in argv:
                assert inside(Path(argv[argv.index(flag) + 1]), roots), job
        if "--state-dir" in argv:  # read only: ztbkit's folder is STATE_DIRECTORY, not <state-dir>/.ztb
            state_dir = argv[argv.index("--state-dir") + 1]
            assert inside(ztb_dir(state_dir, {"STATE_DIRECTORY": "/var/lib/ztb"}), roots), job
            assert not inside(Path(state_dir) / ".ztb", roots)  # the old place would indeed be refused


def test_case11_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    names = ("ztb-live.service", "ztb-nightly.service", "ztb-nightly.timer")
    for name in names:
        text = (ROOT / "ops" / "systemd" / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace("/opt/ztb/.venv/bin/ztb", "/bin/true"), encoding="utf-8")
    p = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in names)], capture_output=True,
                       encoding="utf-8", errors="replace")  # fmt: skip
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real small filesystem (a 256 KiB tmpfs) that the test fills up."""
    where = tmp_path / "small"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(where)], capture_output=True)
    assert r.returncode == 0, f"cannot mount a tmpfs here: {r.stderr!r}"
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == 28  # ENOSPC: the disk is full now
    finally:
        os.close(fd)


def test_case7_flushing_on_a_really_full_disk_sends_each_alert_once_and_is_not_exit_2(
    tmp_path: Path, hook_server: FakeHook, full_disk: Path
) -> None:
    from ztbkit.notify import Alert, Outbox, payload_for
    from ztbkit.notify.webhook import Webhook

    outbox = Outbox(full_disk / ".ztb")
    hook = Webhook(hook_server.url(), "discord", "test")
    for i in range(12):
        outbox.enqueue(hook, payload_for("discord", Alert(f"alert {i:02d}", "ERROR")))
    assert outbox.merge()
    fill(full_disk)
    r = ztb(tmp_path, plain_env(tmp_path), "notify", "--flush-outbox", "--state-dir", str(full_disk))
    assert r.returncode == 1, r.stdout + r.stderr  # alerts whose outcome could not be kept: not exit 2
    assert hook_server.titles == [f"alert {i:02d}" for i in range(12)]  # each once, oldest first
    assert "cannot record the outcome" in r.stderr and "No space left on device" in r.stderr
    assert "Traceback" not in r.stderr


def test_case6_a_full_disk_and_a_down_webhook_say_lost(
    tmp_path: Path, full_disk: Path, make_tree: MakeTree
) -> None:
    root = make_tree(
        {
            "s1": {
                "reports/gates.json": {"gates": [{"name": "sharpe", "status": "fail", "error": "0.2 < 0.5"}]}
            }
        }
    )
    (full_disk / ".ztb").mkdir()
    fill(full_disk)
    down = FakeHook(always=Reply(503))
    try:
        env = plain_env(tmp_path, ZTB_DISCORD_WEBHOOK=down.url())
        r = ztb(tmp_path, env, "gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root),
                "--state-dir", str(full_disk))  # fmt: skip
        assert down.seen, "the alert was not even tried"
    finally:
        down.close()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "LOST: not delivered to discord" in r.stdout and "kept in the outbox" not in r.stdout + r.stderr
    assert TOKEN not in r.stdout + r.stderr


def test_case12_the_takeover_names_every_process_it_killed(tmp_path: Path) -> None:
    """Case 12: a group member's own descendants in sessions of their own were killed but not named."""
    import psutil

    from ztbkit.core.proc import kill_recorded_group, start_time

    pids = tmp_path / "pids"
    member = (f"import os, subprocess, time; k = subprocess.Popen(['sleep', '60'], start_new_session=True); "
              f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{k.pid}}'); time.sleep(60)")  # fmt: skip
    leader = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {member!r}])"
    p = subprocess.Popen([sys.executable, "-c", leader], start_new_session=True)
    started = start_time(p.pid)
    assert started is not None
    p.wait(timeout=30)  # the leader is gone, its group member and the member's kernel-like child live on
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, "the member to start its child")
    member_pid, child_pid = map(int, pids.read_text().split())
    killed = kill_recorded_group(p.pid, started)
    assert member_pid in killed and child_pid in killed, (killed, member_pid, child_pid)
    assert len(killed) == len(set(killed))
    wait_for(
        lambda: not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == "zombie", "kill"
    )


def test_case5_a_state_folder_made_read_only_sends_new_alerts_and_never_repeats_old_ones(
    tmp_path: Path, hook_server: FakeHook, make_tree: MakeTree
) -> None:
    """Case 5 as systemd's ProtectSystem makes it: the folder (and its outbox) exists, read-only.
    gates-alert used to exit 2 on the claim lock with 0 requests sent."""
    state = tmp_path / "bot"
    state.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(state)], capture_output=True)
    assert r.returncode == 0, r.stderr
    try:
        hook_server.always = Reply(503)
        env = plain_env(tmp_path, ZTB_DISCORD_WEBHOOK=hook_server.url())
        q = ztb(tmp_path, env, "live-status", "--state-dir", str(state))
        assert q.returncode == 1 and "kept in the outbox" in q.stdout, q.stdout + q.stderr
        hook_server.always = None
        subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
        root = make_tree(
            {"s1": {"reports/gates.json": {"gates": [{"name": "sharpe", "status": "fail", "error": "x"}]}}}
        )
        for night in range(2):
            before = len(hook_server.seen)
            g = ztb(tmp_path, env, "gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root),
                    "--state-dir", str(state))  # fmt: skip
            assert g.returncode == 0 and g.stdout.splitlines()[-1].startswith("delivered to discord"), (
                g.stdout + g.stderr
            )
            assert len(hook_server.seen) == before + 1, (
                night
            )  # the new alert only: the old one is not repeated
            assert "Read-only file system); sending it without a safety net" in g.stderr, g.stderr
            assert "Traceback" not in g.stderr
        ok_root = make_tree({"s2": {"reports/gates.json": {"gates": [{"name": "sharpe", "status": "pass"}]}}})
        before = len(hook_server.seen)
        side = ztb(tmp_path, env, "gates-alert", "--correlation-id", "s2", "--artifacts-dir", str(ok_root),
                   "--state-dir", str(state))  # fmt: skip
        assert side.returncode == 0 and len(hook_server.seen) == before, side.stdout + side.stderr
        assert (
            "1 alert(s) waiting in" in side.stderr and "are not sent: the folder is read-only" in side.stderr
        )
        f = ztb(tmp_path, env, "notify", "--flush-outbox", "--state-dir", str(state))  # asked for: sent
        assert "1 delivered" in f.stdout and "Traceback" not in f.stderr, f.stdout + f.stderr
    finally:
        subprocess.run(["umount", str(state)], check=False)


def test_trend_alert_without_an_outbox_says_so_in_japanese(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    """The alert still goes out when the outbox cannot be made (a file stands where its spool folder
    goes); the warning that says so is all Japanese under --lang ja (it used to end in English:
    "; sending the alert without the outbox")."""
    sharpes = [1.0, 1.1, 0.9, 1.05, 1.0, 0.2]
    sessions = {f"run-{i:02d}": {"summary.json": {"rl_sharpe": v, "dsr": 0.5}} for i, v in enumerate(sharpes)}
    index = [{"correlation_id": sid, "created_at": f"2025-10-{i + 1:02d}T00:00:00+09:00", "status": "stopped"}
             for i, sid in enumerate(sessions)]  # fmt: skip
    root = make_tree(sessions, index={"sessions": index})
    state = tmp_path / "state"
    (state / ".ztb").mkdir(parents=True)
    (state / ".ztb" / "ztb-outbox.spool").write_text("not a folder", encoding="utf-8")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ZTB_DISCORD_WEBHOOK": hook_server.url()}
    argv = [*ZTB, "trend-alert", "--artifacts-dir", str(root), "--state-dir", str(state), "--lang", "ja"]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    out = r.stdout + r.stderr
    warning = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert r.returncode == 0, out
    assert hook_server.titles == ["成績の悪化：run-05"], out
    assert warning and "送信待ちキューを使わずに通知を送ります" in warning[0] and "sending" not in out, out
    assert TOKEN not in out
