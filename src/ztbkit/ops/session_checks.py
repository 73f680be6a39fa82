"""Doctor checks of one session: its files, its last errors, its progress and ETA."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from ztbkit.core.charset import LEGACY_ENCODING, decode_line
from ztbkit.core.clock import default_tz
from ztbkit.core.errors import ZtbError
from ztbkit.core.jsonread import open_regular
from ztbkit.core.values import parse_timestamp
from ztbkit.data.artifacts import index_entry
from ztbkit.data.session import load_session
from ztbkit.locale import N_, _
from ztbkit.ops.checks import Check, Context

MAX_ERRORS = 50
_LEVEL = re.compile(r"\b(ERROR|FAIL|FAILED|CRITICAL)\b")
_STEP = re.compile(r"\bStep\s+(\d{1,18})\s*/\s*(\d{1,18})\b")
_TS = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")


def validate_artifacts(ctx: Context) -> Check:
    s = load_session(ctx.folder)
    present = [f for f in ("summary.json", "metrics.json", "run_metadata.json") if (ctx.folder / f).is_file()]
    details = [str(p) for p in s.issues]
    big = [
        f"{p.name}: {p.stat().st_size / 2**20:.0f} MB"
        for p in ctx.folder.glob("*.json")
        if p.stat().st_size > 50 * 2**20
    ]
    details += [_("implausibly large: {file}").format(file=b) for b in big]
    if not present:
        return Check(
            "validate_artifacts", "FAIL", _("none of summary.json, metrics.json, run_metadata.json"), details
        )
    unreadable = [
        p
        for p in s.issues
        if "JSON" in p.reason or "cannot read" in p.reason or "expected a JSON" in p.reason
    ]
    if unreadable:
        return Check(
            "validate_artifacts",
            "FAIL",
            _("{n} file(s) unreadable: {first}").format(n=len(unreadable), first=unreadable[0]),
            details,
        )
    if s.issues or big or len(present) < 3:
        missing = sorted({"summary.json", "metrics.json", "run_metadata.json"} - set(present))
        why = (
            _("{n} value problem(s)").format(n=len(s.issues))
            if s.issues
            else _("missing {files}").format(files=", ".join(missing))
            if missing
            else big[0]
        )
        return Check("validate_artifacts", "WARN", why, details)
    return Check("validate_artifacts", "OK", _("{files} present and parseable").format(files=", ".join(present)),
                 details)  # fmt: skip


def _log_lines(log: Path) -> Iterator[tuple[str, bool]]:
    """Lines of a bot log and whether each was cp932 (Windows' Japanese ANSI) rather than UTF-8.

    Decoded line by line: one log is often written by a UTF-8 process and a cp932 one in turn.
    A FIFO, folder or unreadable file yields nothing (it can never block the doctor).
    """
    try:
        raw = open_regular(log)
    except (ZtbError, OSError):
        return
    with raw as fh:
        for line in fh:
            yield decode_line(line)


def _entries(ctx: Context) -> list[tuple[datetime | None, str, str]]:
    """(time, level, text) of every ERROR/FAIL/CRITICAL line in logs/*.log and logs/watch_log.jsonl."""
    out: list[tuple[datetime | None, str, str]] = []
    logs = ctx.folder / "logs"
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        for line, legacy in _log_lines(log):
            m = _LEVEL.search(line)
            if m:
                ts = _TS.search(line)
                source = f"{log.name} ({LEGACY_ENCODING})" if legacy else log.name
                out.append(
                    (
                        parse_timestamp(ts.group(1)) if ts else None,
                        m.group(1),
                        f"{source}: {line.strip()[:300]}",
                    )
                )
    watch = logs / "watch_log.jsonl"
    if watch.is_file():
        for n, (line, _legacy) in enumerate(_log_lines(watch), 1):
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                continue
            level = str(entry.get("level", "")).upper() if isinstance(entry, dict) else ""
            if level in ("ERROR", "FAIL", "CRITICAL"):
                msg = f"watch_log.jsonl:{n}: [{entry.get('alert_type', '?')}] {entry.get('message', '')}"
                out.append((parse_timestamp(entry.get("timestamp")), level, msg[:300]))
    return out


def collect_last_errors(ctx: Context) -> Check:
    entries = _entries(ctx)
    if not entries:
        return Check("collect_last_errors", "OK", _("no ERROR/FAIL/CRITICAL lines in logs/"))
    floor = datetime.min.replace(tzinfo=default_tz())
    entries.sort(key=lambda e: e[0] or floor, reverse=True)
    shown = entries[:MAX_ERRORS]
    details = [f"{(t.astimezone(default_tz()).isoformat(timespec='seconds') if t else '?'):<25} {lvl:<8} {msg}"
               for t, lvl, msg in shown]  # fmt: skip
    critical = sum(lvl == "CRITICAL" for _t, lvl, _m in entries)
    newest = shown[0][2]
    status = "FAIL" if critical else "WARN"
    return Check(
        "collect_last_errors",
        status,
        _("{n} error line(s), {critical} critical; newest: {newest}").format(
            n=len(entries), critical=critical, newest=newest[:120]
        ),
        details,
    )


def _log_progress(ctx: Context) -> list[tuple[datetime, int, int]]:
    points = []
    logs = ctx.folder / "logs"
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        for line, _legacy in _log_lines(log):
            m, ts = _STEP.search(line), _TS.search(line)
            if m and ts and (t := parse_timestamp(ts.group(1))) is not None:
                points.append((t, int(m.group(1)), int(m.group(2))))
    return sorted(points)


def progress_eta(ctx: Context) -> Check:
    """Step, rate and ETA; a *running* session (index.json status) without progress for an hour is WARN."""
    s = load_session(ctx.folder, index_entry(ctx.folder.parent, ctx.correlation_id))
    points = _log_progress(ctx)
    step = s.global_step
    total = ctx.total_steps or (points[-1][2] if points else None)
    sps, source = s.steps_per_sec, N_("metrics/summary")
    if points and len(points) >= 2 and (points[-1][0] - points[0][0]).total_seconds() > 0:
        span = (points[-1][0] - points[0][0]).total_seconds()
        sps, source = (points[-1][1] - points[0][1]) / span, N_("log lines")
        step = max(step or 0, points[-1][1])
    if step is None:
        return Check("progress_eta", "WARN", _("no step count in summary, metrics or logs"))
    parts = [
        _("step {step}").format(step=f"{step:,}") + (f"/{total:,} ({step / total:.1%})" if total else "")
    ]
    status = "OK"
    if sps and sps > 0:
        parts.append(_("{sps} steps/s from {source}").format(sps=f"{sps:,.1f}", source=_(source)))
        if total and step < total:
            eta = timedelta(seconds=(total - step) / sps)
            done = ctx.clock.now() + eta
            parts.append(
                _("ETA {eta} (about {when})").format(
                    eta=str(eta).split(".")[0], when=f"{done.astimezone(default_tz()):%Y-%m-%d %H:%M %Z}"
                )
            )
        elif total:
            parts.append(_("complete"))
    else:
        status = "WARN"
        parts.append(_("no steps/sec: cannot estimate the ETA"))
    if points and s.status == "running" and ctx.clock.now() - points[-1][0] > timedelta(hours=1):
        status = "WARN"
        parts.append(
            _("last progress line is {age} old: stalled?").format(age=ctx.clock.now() - points[-1][0])
        )
    return Check("progress_eta", status, "; ".join(parts))
