"""The shipped setups as a sysadmin pastes them: every crontab line run as cron runs it, the systemd
units' stop margins, the Windows Task Scheduler XML parsed and checked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

CRONTAB = REPO / "ops" / "cron" / "crontab.example"
ZTB = Path(sys.executable).parent / "ztb"  # the venv's console script, as /opt/ztb/.venv/bin/ztb would be
JST = timedelta(hours=9)


def crontab() -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(environment assignments, [(schedule, command)]) as cron reads the file."""
    env: dict[str, str] = {}
    jobs: list[tuple[str, str]] = []
    for line in CRONTAB.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", line):
            env[m[1]] = m[2]
            continue
        if line.startswith("@"):
            sched, cmd = line.split(None, 1)
        else:
            fields = line.split(None, 5)
            sched, cmd = " ".join(fields[:5]), fields[5]
        jobs.append((sched, cmd))
    return env, jobs


def as_cron(
    tmp: Path, command: str, extra_env: dict[str, str], at: datetime
) -> subprocess.CompletedProcess[str]:
    """Run one crontab command as cron would: /bin/sh -c, a bare environment (no HOME), the
    wall clock shifted to ``at`` with Debian's faketime. Paths are swapped to ``tmp``."""
    cmd = (command.replace("/opt/ztb/.venv/bin/ztb", str(ZTB)).replace("/srv/ztb", str(tmp / "srv" / "ztb"))
           .replace("/srv/bot", str(tmp / "srv" / "bot")))  # fmt: skip
    env_file, jobs_env = crontab()
    shell = env_file.get("SHELL", "/bin/sh")
    offset = int(at.timestamp() - time.time())
    env = [
        "PATH=/usr/bin:/bin",
        f"SHELL={shell}",
        *(f"{k}={v}" for k, v in {**env_file, **extra_env}.items()),
    ]
    del jobs_env
    return subprocess.run(["env", "-i", *env, "faketime", "-f", f"{offset:+d}s", shell, "-c", cmd],
                          capture_output=True, text=True, timeout=120, encoding="utf-8")  # fmt: skip


def test_crontab_has_the_documented_lines() -> None:
    _, jobs = crontab()
    assert [s for s, _ in jobs] == ["*/10 * * * *", "@reboot", "*/5 * * * *", "* * * * *", "*/10 * * * *"]


@pytest.mark.parametrize("index", [0, 1])
def test_each_nightly_cron_line_runs_on_a_fresh_machine(tmp_path: Path, index: int) -> None:
    _, jobs = crontab()
    command = jobs[index][1]
    assert not (tmp_path / "srv").exists()  # fresh: no /srv/ztb/.ztb, nothing prepared
    day = datetime.now(UTC).date() + timedelta(days=3)
    at = datetime(day.year, day.month, day.day, 6, 31, tzinfo=UTC) - JST  # 06:31 in Tokyo, a minute late
    p = as_cron(tmp_path, command, {}, at)
    base = tmp_path / "srv" / "ztb" / ".ztb"
    slot = f"{day.isoformat()}T06:30:00+09:00"
    cron_log = (base / "cron.log").read_text(encoding="utf-8")
    assert p.stderr == "" and f"nightly: slot {slot} started (due)" in cron_log, (p, cron_log)
    job_log = (base / "logs" / "nightly.log").read_text(encoding="utf-8")
    assert f"nightly slot {slot}" in job_log
    # The job ran: it is `ztb nightly` itself speaking (no artifacts on a fresh machine → its exit 2),
    # and --once reports that failure to cron with exit status 1.
    assert "artifacts folder 'artifacts' does not exist" in job_log
    assert p.returncode == 1
    state = json.loads((base / "cronish-state.json").read_text(encoding="utf-8"))["jobs"]["nightly"]
    assert state["last_slot"] == slot and state["runs"] == 1 and state["exit_code"] == 2
    # Ten minutes later the same line runs nothing and succeeds.
    again = as_cron(tmp_path, command, {}, at + timedelta(minutes=10))
    assert again.returncode == 0 and (base / "cron.log").read_text(encoding="utf-8").count("started") == 1


def test_reboot_line_makes_up_the_missed_night(tmp_path: Path) -> None:
    _, jobs = crontab()
    reboot = dict(jobs)["@reboot"]
    day = datetime.now(UTC).date() + timedelta(days=3)
    first = datetime(day.year, day.month, day.day, 6, 31, tzinfo=UTC) - JST
    as_cron(tmp_path, reboot, {}, first)
    # The PC was off over the next night and is switched on at 09:12 Tokyo two days later.
    back = first + timedelta(days=2, hours=2, minutes=41)
    p = as_cron(tmp_path, reboot, {}, back)
    log = (tmp_path / "srv" / "ztb" / ".ztb" / "cron.log").read_text(encoding="utf-8")
    missed = (day + timedelta(days=2)).isoformat()
    assert f"nightly: slot {missed}T06:30:00+09:00 started (catch-up 1 of 1)" in log, log
    assert "skipped 1 missed run(s) beyond --max-catchup 1" in log and p.returncode == 1


def test_live_status_cron_line_posts(tmp_path: Path, hook_server: Any) -> None:
    _, jobs = crontab()
    (tmp_path / "srv" / "bot").mkdir(parents=True)
    now = datetime.now(UTC)
    tick = now.replace(minute=now.minute - now.minute % 5, second=10, microsecond=0)  # as cron fires it
    p = as_cron(tmp_path, dict(jobs)["*/5 * * * *"], {"ZTB_DISCORD_WEBHOOK": hook_server.url()}, tick)
    log = (tmp_path / "srv" / "ztb" / ".ztb" / "cron.log").read_text(encoding="utf-8")
    assert p.returncode == 0 and p.stderr == "", log
    assert (
        hook_server.seen and hook_server.seen[0].body["embeds"][0]["title"] == "🤖 Live Bot Status Snapshot"
    )


# ---------------------------------------------------------------- systemd


def unit(name: str) -> str:
    return (REPO / "ops" / "systemd" / name).read_text(encoding="utf-8")


def _seconds(value: str) -> float:
    total = 0.0
    for n, u in re.findall(r"(\d+(?:\.\d+)?)\s*(h|min|s|ms)?", value):
        total += float(n) * {"h": 3600, "min": 60, "s": 1, "ms": 0.001, "": 1}[u]
    return total


def test_live_unit_stops_within_its_timeout() -> None:
    live = unit("ztb-live.service")
    stop = _seconds(re.search(r"^TimeoutStopSec=(.+)$", live, re.M)[1])  # type: ignore[index]
    exec_start = re.search(r"^ExecStart=(.+)$", live, re.M)[1]  # type: ignore[index]
    cooldown = float(re.search(r"--catchup-cooldown-sec (\S+)", exec_start)[1])  # type: ignore[index]
    # The longest a stop can take: the stop poll (0.25 s) plus killing a job's tree (up to 10 s).
    # A cooldown is interrupted, so it does not count; the margin must still exceed it.
    assert stop > 10.5 + 5 and stop > cooldown, (stop, cooldown)
    assert "KillMode=mixed" in live  # SIGTERM to the runner only; anything left is SIGKILLed at the end


# ---------------------------------------------------------------- Windows Task Scheduler

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


def task() -> ET.Element:
    data = (REPO / "ops" / "windows" / "task_scheduler.xml").read_bytes()
    assert data[:2] == b"\xff\xfe"  # UTF-16 LE with BOM, as Task Scheduler exports it
    assert data.decode("utf-16").startswith('<?xml version="1.0" encoding="UTF-16"?>')
    return ET.fromstring(data)


def test_task_runs_cronish_once_not_plain_nightly() -> None:
    root = task()
    command = root.findtext("t:Actions/t:Exec/t:Command", namespaces=NS) or ""
    args = (root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS) or "").split()
    assert command.endswith("\\ztb.exe") or command.endswith("\\ztbw.exe")
    assert args[:1] == ["cronish"] and "--once" in args
    assert args[args.index("--template") + 1] == "nightly" and args[args.index("--max-catchup") + 1] == "1"
    assert root.findtext("t:Actions/t:Exec/t:WorkingDirectory", namespaces=NS)


def test_task_runs_logged_on_or_not_without_a_window() -> None:
    root = task()
    principal = root.find("t:Principals/t:Principal", NS)
    assert principal is not None and principal.findtext("t:LogonType", namespaces=NS) == "S4U"
    settings = root.find("t:Settings", NS)
    assert settings is not None
    assert settings.findtext("t:StartWhenAvailable", namespaces=NS) == "true"
    assert settings.findtext("t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert settings.findtext("t:ExecutionTimeLimit", namespaces=NS) == "PT3H"
    # RestartOnFailure only restarts a task that failed to *start*; retries of a failed run are not
    # promised, so the XML must not pretend (README says what happens instead).
    assert settings.find("t:RestartOnFailure", NS) is None
    trigger = root.find("t:Triggers/t:CalendarTrigger", NS)
    assert trigger is not None and trigger.findtext("t:StartBoundary", namespaces=NS) == "2025-01-01T06:30:00"
    text = (REPO / "ops" / "windows" / "task_scheduler.xml").read_bytes().decode("utf-16")
    assert "local time" in text and "Asia/Tokyo" in text  # the zone assumption is written down


def test_readme_does_not_promise_task_scheduler_retries() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "retried 3 times" not in readme and "is **not** retried" in readme
