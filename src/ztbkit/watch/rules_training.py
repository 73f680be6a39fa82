"""Rules on the artifacts folder: a running session that stalls, a session that failed or finished.

Status comes from ``index.json`` (the bot's writer: ``running``, ``stopped``, ``failed``; a kill file
``ztb.stop`` means stopped). Only running sessions are looked at closely, so an evaluation costs
the same on 10 or 10,000 sessions plus one index read.

* ``training_stalled``: a running session whose newest file (summary.json, metrics.json, logs/,
  TensorBoard events in tb/ or tensorboard/) is older than ``[training] stalled_after_sec``.
* ``training_failed`` / ``training_finished``: a session seen running that is now failed /
  anything else, or a session that is failed and was not failed before (sent once each). The very
  first evaluation only learns what is there: nothing old is announced.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from ztbkit.core.errors import ZtbError
from ztbkit.core.jsonread import is_regular_file, open_regular
from ztbkit.locale import N_, _
from ztbkit.watch.config import WatchConfig
from ztbkit.watch.findings import Findings

ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|FATAL|FAIL(ED)?|Traceback|[A-Za-z]+Error:)")
TAIL_BYTES = 64 * 1024
FAILED = ("failed", "error", "crashed")
#: How a session's index status reads in an alert (index.json keeps the English word).
STATUS_WORDS = (N_("stopped"), N_("finished"), N_("completed"), N_("unknown"), N_("crashed"))


def _mtimes(where: Path, depth: int) -> list[float]:
    """Modification times of the files under ``where``, ``depth`` folder levels deep at most."""
    found: list[float] = []
    try:
        with os.scandir(where) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False):
                    found.append(entry.stat(follow_symlinks=False).st_mtime)
                elif depth > 1 and entry.is_dir(follow_symlinks=False):
                    found += _mtimes(Path(entry.path), depth - 1)
    except OSError:
        pass
    return found


def _newest_mtime(folder: Path) -> float | None:
    """When the session last wrote progress: summary/metrics, a log, a TensorBoard event file."""
    stamps: list[float] = []
    for name in (
        "",
        "summary.json",
        "metrics.json",
    ):  # "": the folder itself, for a session with no files yet
        with contextlib.suppress(OSError):
            stamps.append(os.stat(folder / name).st_mtime)
    for sub, depth in (("logs", 1), ("tb", 3), ("tensorboard", 3)):
        stamps += _mtimes(folder / sub, depth)
    return max(stamps) if stamps else None


def last_error_line(folder: Path) -> str | None:
    """The last ERROR/CRITICAL/Traceback line of the session's newest log (its last 64 KB)."""
    logs = folder / "logs"
    try:
        files = sorted((p for p in logs.iterdir() if is_regular_file(p)), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    for log in reversed(files):
        try:
            with open_regular(log) as fh:
                fh.seek(max(0, fh.seek(0, 2) - TAIL_BYTES))
                lines = fh.read().decode("utf-8", "replace").splitlines()
        except (OSError, ZtbError):
            continue
        for line in reversed(lines):
            if ERROR_LINE.search(line):
                return line.strip()[:300]
    return None


def _result(folder: Path) -> dict[str, Any]:
    from ztbkit.data.session import load_session

    s = load_session(folder)
    cost = s.cost_estimate or {}
    costs = cost.get("costs")
    total = (costs if isinstance(costs, dict) else {}).get("total_jpy", cost.get("total_cost_jpy"))
    amount = float(total) if isinstance(total, int | float) and not isinstance(total, bool) else None
    return {"sharpe": s.rl_sharpe, "dsr": s.dsr, "cost_jpy": amount}


def _describe(result: dict[str, Any]) -> str:
    from ztbkit.core.formatting import yen

    sharpe, dsr, cost = result["sharpe"], result["dsr"], result["cost_jpy"]
    return _("Sharpe {sharpe}, DSR {dsr}, cost {cost}").format(
        sharpe=f"{sharpe:.2f}" if sharpe is not None else "—", dsr=f"{dsr:.2f}" if dsr is not None else "—",
        cost=yen(cost) if cost is not None else "—")  # fmt: skip


def training_rules(cfg: WatchConfig, now: datetime, memory: dict[str, Any], out: Findings) -> None:
    from ztbkit.data.artifacts import index_entries

    root = cfg.artifacts_dir
    assert root is not None
    if not root.is_dir():
        if cfg.artifacts_configured:
            out.cond(
                "training_stalled",
                "(artifacts folder)",
                _("artifacts folder {root} does not exist").format(root=root),
            )
        return
    problems: list[Any] = []
    entries = index_entries(root, problems)
    status: dict[str, str] = {}
    for sid, entry in entries.items():
        raw = entry.get("status")
        status[sid] = raw.lower() if isinstance(raw, str) else "unknown"
    running = sorted(sid for sid, st in status.items()
                     if st == "running" and not os.path.lexists(root / sid / "ztb.stop"))  # fmt: skip
    failed = sorted(sid for sid, st in status.items() if st in FAILED)
    for sid in running:
        newest = _newest_mtime(root / sid)
        if newest is not None and now.timestamp() - newest >= cfg.stalled_after_sec:
            age = now.timestamp() - newest
            text = _(
                "session {id} is running but has written nothing for {age} min (limit {limit} min)"
            ).format(id=sid, age=f"{age / 60:.0f}", limit=f"{cfg.stalled_after_sec / 60:g}")
            out.cond("training_stalled", sid, text)
    if "running" in memory:
        was_running, was_failed = set(memory["running"]), set(memory.get("failed", []))
        for sid in sorted(set(failed) - was_failed):
            line = last_error_line(root / sid) or _("no error line in its logs/")
            out.event(
                "training_failed", sid, _("session {id} failed: {line}").format(id=sid, line=line), error=line
            )
        for sid in sorted(was_running - set(running) - set(failed)):
            if not (root / sid).is_dir():
                continue
            result = _result(root / sid)
            text = _("session {id} {status}: {result}").format(
                id=sid, status=_(status.get(sid, "stopped")), result=_describe(result)
            )
            out.event("training_finished", sid, text, **result)
    memory["running"], memory["failed"] = running, failed
