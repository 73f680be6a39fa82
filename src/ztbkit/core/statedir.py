"""Where ztbkit keeps its own files: the one rule every command uses.

ztbkit's folder holds the outbox (``ztb-outbox.jsonl`` and friends), the live-status message id,
the trend-alert record and, by default, the scheduler's state file and job logs. Every command finds
it the same way, so what the scheduler queued, ``ztb notify`` sees and flushes:

1. ``ZTB_HOME`` when set: that folder, as is (e.g. ``/var/lib/ztb``; put it in ``/etc/ztb/env``).
2. ``STATE_DIRECTORY`` when set — systemd sets it for a unit with ``StateDirectory=ztb`` — its first
   entry, as is (``/var/lib/ztb``): under the shipped units every job writes only there.
3. Otherwise ``<state-dir>/.ztb``, the state folder being ``--state-dir``, else ``ZTB_STATE_DIR``,
   else the working folder.

Paths are returned as given (relative stays relative to the working folder).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SUBDIR = ".ztb"


def ztb_dir(state_dir: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """ztbkit's own folder under the rule in the module docstring."""
    env = os.environ if env is None else env
    if env.get("ZTB_HOME"):
        return Path(env["ZTB_HOME"])
    systemd = env.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    base = state_dir if state_dir is not None else (env.get("ZTB_STATE_DIR") or ".")
    return Path(base) / SUBDIR


def scheduler_state_file(env: Mapping[str, str] | None = None) -> Path:
    """The scheduler's default state file: ``<ztbkit folder>/cronish-state.json`` (cronish and doctor)."""
    return ztb_dir(None, env) / "cronish-state.json"
