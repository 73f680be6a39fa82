"""Rules on ztbkit itself: the scheduler's jobs, the outbox, the disks.

* ``scheduler_failed``: a job in the cronish state file whose last run ``failed``, ``timeout``,
  ``error`` or ``interrupted``; it resolves when a later run succeeds.
* ``scheduler_missed``: a job whose last success is older than ``[scheduler.jobs] <name>`` seconds,
  else than its own schedule allows (:func:`own_allowance` of the period cronish records), else than
  ``[scheduler] missed_after_sec`` (26 h: a daily job that missed one night).
* ``outbox_backlog``: an alert waiting in ``<state-dir>/.ztb`` longer than ``[ztbkit] outbox_backlog_sec``.
* ``disk_low``: the artifacts or state filesystem has less than ``[ztbkit] disk_min_free_gb`` free.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from ztbkit.core.clock import parse_aware
from ztbkit.core.jsonread import read_json_if_exists
from ztbkit.locale import N_, _
from ztbkit.watch.config import WatchConfig
from ztbkit.watch.findings import Findings

FAILED = ("failed", "timeout", "error", "interrupted")
#: How each status reads in an alert (the state file keeps the English word).
STATUS_WORDS = (N_("failed"), N_("timeout"), N_("error"), N_("interrupted"))


_time = parse_aware  # ztbkit's own records carry their zone


def own_allowance(period: Any) -> float | None:
    """How old a job's last success may be by its own schedule (cronish records ``period_sec``): one
    period plus a margin for the run itself, half a period but 10 min to 3 h (daily → 27 h, hourly
    → 90 min, every minute → 11 min); None when the state does not say."""
    if isinstance(period, bool) or not isinstance(period, int | float) or not 0 < period < 10**8:
        return None
    return float(period) + min(max(period / 2, 600.0), 3 * 3600.0)


def self_rules(cfg: WatchConfig, now: datetime, memory: dict[str, Any], out: Findings) -> None:
    _scheduler(cfg, now, memory, out)
    _outbox(cfg, now, out)
    _disks(cfg, out)


def _scheduler(cfg: WatchConfig, now: datetime, memory: dict[str, Any], out: Findings) -> None:
    path = cfg.scheduler_state
    if path is None:
        return
    read = read_json_if_exists(path)
    if read is None:
        return  # no scheduler here (yet): nothing to miss
    doc = read.value if read.ok else None
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    if not isinstance(jobs, dict):
        out.cond("scheduler_failed", "(state file)", f"{path}: " + str(read.problem or _("no jobs object")))
        return
    last_ok: dict[str, str] = memory.setdefault("scheduler_ok", {})
    for name, entry in jobs.items():
        if not isinstance(entry, dict):
            continue
        status, finish = entry.get("status"), _time(entry.get("last_finish"))
        if status == "ok" and finish is not None:
            last_ok[name] = finish.isoformat()
        if status in FAILED:
            detail = entry.get("detail") or _("exit code {code}").format(code=entry.get("exit_code"))
            text = _("job {job} {status}: {detail}").format(job=name, status=_(status), detail=detail)
            out.cond("scheduler_failed", str(name), text)
        ok_at = _time(last_ok.get(name)) or finish
        allowed = (
            cfg.job_missed_after_sec.get(name)
            or own_allowance(entry.get("period_sec"))
            or cfg.missed_after_sec
        )
        if ok_at is not None and (now - ok_at).total_seconds() > allowed:
            hours = (now - ok_at).total_seconds() / 3600
            text = _("job {job} last succeeded {hours} h ago (allowed {allowed} h)").format(
                job=name, hours=f"{hours:.1f}", allowed=f"{allowed / 3600:g}"
            )
            out.cond("scheduler_missed", str(name), text)


def _outbox(cfg: WatchConfig, now: datetime, out: Findings) -> None:
    from ztbkit.notify.waiting import anything_waiting

    if not anything_waiting(cfg.ztb_dir):  # nothing queued or spooled: no backlog (and no filelock import)
        return
    from ztbkit.notify.outbox import Outbox, OutboxError

    try:
        waiting = Outbox(cfg.ztb_dir).pending()
    except OutboxError as exc:
        out.cond("outbox_backlog", "outbox", str(exc))
        return
    ages = [(now - t).total_seconds() for e in waiting if (t := _time(e.get("created_at"))) is not None]
    old = [a for a in ages if a > cfg.outbox_backlog_sec]
    if old:
        text = _("{n} alert(s) waiting longer than {limit} min, the oldest {oldest} min "
                 "(see ztb notify; alerts are not getting through)").format(
            n=len(old), limit=f"{cfg.outbox_backlog_sec / 60:g}", oldest=f"{max(old) / 60:.0f}")  # fmt: skip
        out.cond("outbox_backlog", "outbox", text, waiting=len(waiting))


def _disks(cfg: WatchConfig, out: Findings) -> None:
    seen: set[int] = set()
    for folder in (cfg.artifacts_dir, cfg.live_dir, cfg.state_dir):
        if folder is None or not folder.is_dir():
            continue
        dev = os.stat(folder).st_dev
        if dev in seen:
            continue
        seen.add(dev)
        free = shutil.disk_usage(folder).free / 2**30
        if free < cfg.disk_min_free_gb:
            text = _("{folder}: {free} GB free (limit {limit} GB)").format(
                folder=folder, free=f"{free:.1f}", limit=f"{cfg.disk_min_free_gb:g}"
            )
            out.cond("disk_low", str(Path(folder)), text, free_gb=round(free, 2))
