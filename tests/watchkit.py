"""Helpers for the watch tests: a live state folder, a watch.toml, ``ztb watch`` as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, sh

BIN = Path(sys.executable).parent


def live_folder(root: Path, *, age_sec: float = 0.0) -> Path:
    """trade-state.json, trade-config.json and stats.json (FORMATS.md), modified ``age_sec`` ago."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "trade-state.json": {"phase": 2, "consecutiveDays": 5, "totalSuccess": 15, "lastDate": "2025-09-29",
                             "ordersPerDay": 3},
        "trade-config.json": {"pair": "btc_jpy", "phase": 2, "maxOrdersPerDay": 5, "maxLossPerDay": 2},
        "stats.json": {"date": "2025-09-29", "data": [
            {"pair": "btc_jpy", "stats": {"trades": 10, "wins": 7, "realizedPnl": 15000, "maxDrawdown": 4200}}]},
    }  # fmt: skip
    for name, doc in files.items():
        (root / name).write_text(json.dumps(doc), encoding="utf-8")
    age(root, age_sec)
    return root


def age(root: Path, seconds: float, names: tuple[str, ...] = ("trade-state.json", "stats.json")) -> None:
    """Set the files' modification time ``seconds`` before now (negative: in the future)."""
    when = time.time() - seconds
    for name in names:
        if (root / name).exists():
            os.utime(root / name, (when, when))


def write_config(path: Path, extra: str = "", *, heartbeat: str | None = None) -> Path:
    """A watch.toml for tests: live rules on ./live, training off, small thresholds."""
    text = f"""
[live]
state_dir = "live"
stale_after_sec = 600

[training]
enabled = false

[ztbkit]
disk_min_free_gb = 0

[rules.live_stale]
repeat_interval_sec = 3600
{extra}
"""
    if heartbeat:
        text += f'\n[heartbeat]\nurl = "{heartbeat}"\ntimeout_sec = 5\n'
    path.write_text(text, encoding="utf-8")
    return path


def env_for(hook_url: str | None = None, **more: str) -> dict[str, str]:
    """A clean environment as cron gives it: PATH with the venv, a webhook, nothing else inherited."""
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
           "ZTB_SHARED_DIR": os.environ.get("ZTB_SHARED_DIR", str(REPO.parent / "shared"))}  # fmt: skip
    if hook_url:
        env["ZTB_DISCORD_WEBHOOK"] = hook_url
    env.update(more)
    return env


def watch_once(
    work: Path, env: dict[str, str], shift: str | None = None, extra: str = ""
) -> subprocess.CompletedProcess[str]:
    """The documented cron line pasted as-is; ``shift`` runs it under faketime (``+61m``)."""
    command = f"ztb watch --once --config watch.toml --state-dir . {extra}"
    if shift:
        command = f"faketime -f '{shift}' {command}"
    return sh(command, env, work, timeout=120)
