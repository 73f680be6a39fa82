"""Cheap when idle: the scheduler tick cron runs every few minutes imports nothing heavy until it
has work (DESIGN 14), and the sending half still arrives when there is something to send."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HEAVY = (
    "requests",
    "urllib3",
    "pandas",
    "matplotlib",
    "numpy",
    "pyarrow",
    "papermill",
    "nbconvert",
    "fsspec",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8"}  # fmt: skip
    env.update(extra)
    return env


def sh(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The documented command, pasted as-is into /bin/sh -c."""
    return subprocess.run(["/bin/sh", "-c", command], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=240, encoding="utf-8")  # fmt: skip


def seed_due_slot(state: Path) -> None:
    """A state whose last slot is three hours back: the next tick has one run due."""
    import json
    from datetime import UTC, datetime, timedelta

    slot = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps({"version": 1, "jobs": {"job": {"last_slot": slot.isoformat()}}}), encoding="utf-8"
    )


def imported(stderr: str) -> set[str]:
    """Module names from Python's own import log (PYTHONPROFILEIMPORTTIME=1: one line per import)."""
    return {m.group(1).strip() for m in re.finditer(r"^import time:[^|]*\|[^|]*\|\s*(\S+)", stderr, re.M)}


@pytest.mark.parametrize("webhook", [False, True], ids=["no-webhook", "webhook-configured"])
def test_an_idle_tick_imports_nothing_heavy(tmp_path: Path, hook_server: Any, webhook: bool) -> None:
    """With a webhook configured too: somewhere to send is no reason to load the sending half."""
    state = tmp_path / "state" / "cronish.json"
    tick = (f"ztb cronish --interval-sec 3600 --max-catchup 1 --once --state-file {shlex.quote(str(state))} "
            "-- touch ran.marker")  # fmt: skip
    hook = {"ZTB_DISCORD_WEBHOOK": hook_server.url()} if webhook else {}
    seed_due_slot(state)
    first = sh(tick, clean_env(**hook), tmp_path)
    assert first.returncode == 0 and (tmp_path / "ran.marker").exists(), first.stderr  # a slot was due
    (tmp_path / "ran.marker").unlink()
    idle = sh(tick, clean_env(PYTHONPROFILEIMPORTTIME="1", **hook), tmp_path)
    assert idle.returncode == 0, idle.stderr
    assert not (tmp_path / "ran.marker").exists()  # nothing was due: this tick was idle
    modules = imported(idle.stderr)
    assert {"ztbkit.schedule.runner", "ztbkit.notify.webhook"} <= modules  # the log is read right
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []
    assert hook_server.seen == []  # nothing failed: nothing was sent


def test_a_failed_run_on_a_tick_still_sends_its_alert(tmp_path: Path, hook_server: Any) -> None:
    """With a webhook configured, the lazily imported sending half is there when a job fails."""
    state = tmp_path / "state" / "cronish.json"
    cmd = f"ztb cronish --interval-sec 3600 --max-catchup 1 --once --state-file {shlex.quote(str(state))} -- false"
    seed_due_slot(state)
    r = sh(cmd, clean_env(ZTB_DISCORD_WEBHOOK=hook_server.url()), tmp_path)
    assert r.returncode == 1, r.stderr
    assert "failure alert delivered" in r.stdout, r.stdout + r.stderr
    assert hook_server.seen[0].body["embeds"][0]["title"] == "Scheduled job job failed"


def test_the_notify_package_imports_its_sending_half_on_first_use() -> None:
    code = (
        "import sys, ztbkit.notify as n\n"
        "assert 'requests' not in sys.modules, 'eager'\n"
        "assert sorted(n.__all__) == n.__all__ and set(n.__all__) <= set(dir(n))\n"
        "for name in n.__all__: getattr(n, name)\n"
        "assert 'requests' in sys.modules\n"
        "from ztbkit.notify import deliver, Alert\n"
        "from ztbkit.notify.delivery import deliver as d\n"
        "assert deliver is d and Alert.__module__ == 'ztbkit.notify.alert'\n"
        "try:\n    n.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "module 'ztbkit.notify' has no attribute 'no_such_name'"
