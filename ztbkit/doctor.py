"""``ztb doctor``: one-shot triage of a session, in-process, continuing past failures.

Checks, in order: validate_artifacts, collect_last_errors, progress_eta, disk_health, then what an
operator needs in practice: the Jupyter kernel for reports starts, the webhook is configured (checked
without posting, URL redacted), the scheduler state is fresh and its lock not stale, TensorBoard logs
parse. Each is OK/WARN/FAIL with a one-line reason; a check that crashes is a FAIL with its reason,
never a crash of the doctor. stdout ends with ``Doctor Summary: OK=n, WARN=n, FAIL=n``; details go to
``<session>/reports/doctor.txt`` (atomically).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ztbkit.artifacts import index_entry, load_session
from ztbkit.charset import LEGACY_ENCODING, decode_line
from ztbkit.clock import SYSTEM_CLOCK, Clock, default_tz
from ztbkit.errors import ArtifactsNotFoundError, ZtbError
from ztbkit.fsio import atomic_write_text, open_regular, read_json_if_exists
from ztbkit.ids import check_component, check_inside, safe_repr
from ztbkit.values import parse_timestamp

MAX_ERRORS = 50
_LEVEL = re.compile(r"\b(ERROR|FAIL|FAILED|CRITICAL)\b")
_STEP = re.compile(r"\bStep\s+(\d{1,18})\s*/\s*(\d{1,18})\b")
_TS = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")


@dataclass(slots=True)
class Check:
    name: str
    status: str  # OK | WARN | FAIL
    reason: str
    details: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One terminal line: control characters from logs or ids are escaped (no forged lines)."""
        return f"[{self.status:<4}] {self.name}: {safe_repr(self.reason)}"


def _disk_space(folder: Path) -> tuple[int, int]:
    usage = shutil.disk_usage(folder)
    return usage.total, usage.free


def _inodes(folder: Path) -> tuple[int, int] | None:
    if not hasattr(os, "statvfs"):
        return None  # Windows: no inode counts
    st = os.statvfs(folder)
    return (st.f_files, st.f_ffree) if st.f_files else None


def _write_latency(folder: Path) -> float:
    t0 = time.perf_counter()
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".ztb-doctor-", delete=True) as fh:
        fh.write(os.urandom(1 << 20))
        fh.flush()
        os.fsync(fh.fileno())
    return time.perf_counter() - t0


@dataclass(frozen=True, slots=True)
class Host:
    """What disk_health measures on the machine; tests inject fixed figures instead of the host's."""

    disk_space: Callable[[Path], tuple[int, int]] = _disk_space  # (total, free) bytes
    inodes: Callable[[Path], tuple[int, int] | None] = _inodes  # (total, free), None if unknown
    write_latency: Callable[[Path], float] = _write_latency  # seconds for 1 MB write + fsync


@dataclass(slots=True)
class Context:
    folder: Path
    correlation_id: str
    total_steps: int | None
    state_file: Path
    clock: Clock
    kernel_timeout: float = 60.0
    host: Host = field(default_factory=Host)


def validate_artifacts(ctx: Context) -> Check:
    s = load_session(ctx.folder)
    present = [f for f in ("summary.json", "metrics.json", "run_metadata.json") if (ctx.folder / f).is_file()]
    details = [str(p) for p in s.issues]
    big = [
        f"{p.name}: {p.stat().st_size / 2**20:.0f} MB"
        for p in ctx.folder.glob("*.json")
        if p.stat().st_size > 50 * 2**20
    ]
    details += [f"implausibly large: {b}" for b in big]
    if not present:
        return Check(
            "validate_artifacts", "FAIL", "none of summary.json, metrics.json, run_metadata.json", details
        )
    unreadable = [
        p
        for p in s.issues
        if "JSON" in p.reason or "cannot read" in p.reason or "expected a JSON" in p.reason
    ]
    if unreadable:
        return Check(
            "validate_artifacts", "FAIL", f"{len(unreadable)} file(s) unreadable: {unreadable[0]}", details
        )
    if s.issues or big or len(present) < 3:
        missing = sorted({"summary.json", "metrics.json", "run_metadata.json"} - set(present))
        why = (
            f"{len(s.issues)} value problem(s)"
            if s.issues
            else f"missing {', '.join(missing)}"
            if missing
            else big[0]
        )
        return Check("validate_artifacts", "WARN", why, details)
    return Check("validate_artifacts", "OK", f"{', '.join(present)} present and parseable", details)


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
        for n, (line, _) in enumerate(_log_lines(watch), 1):
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
        return Check("collect_last_errors", "OK", "no ERROR/FAIL/CRITICAL lines in logs/")
    floor = datetime.min.replace(tzinfo=default_tz())
    entries.sort(key=lambda e: e[0] or floor, reverse=True)
    shown = entries[:MAX_ERRORS]
    details = [f"{(t.astimezone(default_tz()).isoformat(timespec='seconds') if t else '?'):<25} {lvl:<8} {msg}"
               for t, lvl, msg in shown]  # fmt: skip
    critical = sum(lvl == "CRITICAL" for _, lvl, _ in entries)
    newest = shown[0][2]
    status = "FAIL" if critical else "WARN"
    return Check(
        "collect_last_errors",
        status,
        f"{len(entries)} error line(s), {critical} critical; newest: {newest[:120]}",
        details,
    )


def _log_progress(ctx: Context) -> list[tuple[datetime, int, int]]:
    points = []
    logs = ctx.folder / "logs"
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        for line, _ in _log_lines(log):
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
    sps, source = s.steps_per_sec, "metrics/summary"
    if points and len(points) >= 2 and (points[-1][0] - points[0][0]).total_seconds() > 0:
        span = (points[-1][0] - points[0][0]).total_seconds()
        sps, source = (points[-1][1] - points[0][1]) / span, "log lines"
        step = max(step or 0, points[-1][1])
    if step is None:
        return Check("progress_eta", "WARN", "no step count in summary, metrics or logs")
    parts = [f"step {step:,}" + (f"/{total:,} ({step / total:.1%})" if total else "")]
    status = "OK"
    if sps and sps > 0:
        parts.append(f"{sps:,.1f} steps/s from {source}")
        if total and step < total:
            eta = timedelta(seconds=(total - step) / sps)
            done = ctx.clock.now() + eta
            parts.append(
                f"ETA {str(eta).split('.')[0]} (about {done.astimezone(default_tz()):%Y-%m-%d %H:%M %Z})"
            )
        elif total:
            parts.append("complete")
    else:
        status = "WARN"
        parts.append("no steps/sec: cannot estimate the ETA")
    if points and s.status == "running" and ctx.clock.now() - points[-1][0] > timedelta(hours=1):
        status = "WARN"
        parts.append(f"last progress line is {ctx.clock.now() - points[-1][0]} old: stalled?")
    return Check("progress_eta", status, "; ".join(parts))


def disk_health(ctx: Context) -> Check:
    """FAIL under 5% free space or inodes, WARN under 15% or when 1 MB write+fsync takes over 2 s."""
    total, free = ctx.host.disk_space(ctx.folder)
    free_pct = free / total * 100
    details = [f"free {free / 2**30:.1f} GB of {total / 2**30:.1f} GB ({free_pct:.1f}%)"]
    status = "FAIL" if free_pct < 5 else "WARN" if free_pct < 15 else "OK"
    inodes = ctx.host.inodes(ctx.folder)
    if inodes is not None:
        inode_pct = inodes[1] / inodes[0] * 100
        details.append(f"free inodes {inode_pct:.1f}%")
        if inode_pct < 5:
            status = "FAIL"
        elif inode_pct < 15 and status == "OK":
            status = "WARN"
    latency = ctx.host.write_latency(ctx.folder)
    details.append(f"1 MB write+fsync took {latency * 1000:.0f} ms")
    if latency > 2 and status == "OK":
        status = "WARN"
    return Check("disk_health", status, "; ".join(details), details)


def kernel_starts(ctx: Context) -> Check:
    from jupyter_client.manager import KernelManager

    from ztbkit.reports import kernel_name, kernel_transport

    name = kernel_name()
    t0 = time.perf_counter()
    with kernel_transport() as transport:  # as the reports start theirs: IPC on POSIX, no port race
        km = KernelManager(kernel_name=name, **transport)
        km.start_kernel()
        try:
            kc = km.client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=ctx.kernel_timeout)
                kc.execute_interactive("import ztbkit", timeout=ctx.kernel_timeout)
            finally:
                kc.stop_channels()
        finally:
            km.shutdown_kernel(now=True)
    return Check(
        "report_kernel",
        "OK",
        f"kernel {name!r} started and imported ztbkit in {time.perf_counter() - t0:.1f} s",
    )


def webhook_configured(ctx: Context) -> Check:
    from ztbkit.notify import check_configuration

    ok, why = check_configuration()
    if ok:
        return Check("webhook", "OK", why + " (not posted)")
    return Check("webhook", "WARN" if why.startswith("no webhook") else "FAIL", why)


def scheduler_state(ctx: Context) -> Check:
    path = ctx.state_file
    read = read_json_if_exists(path)
    if read is None:
        return Check(
            "scheduler", "WARN", f"no scheduler state at {path} (is ztb cronish running here? --state-file)"
        )
    if not read.ok or not isinstance(read.value, dict):
        return Check("scheduler", "FAIL", f"{read.problem or f'{path}: unknown shape'}")
    jobs = read.value.get("jobs", {}) if isinstance(read.value.get("jobs"), dict) else {}
    details, status = [], "OK"
    now = ctx.clock.now()
    for name, j in jobs.items():
        finished = parse_timestamp(j.get("last_finish")) if isinstance(j, dict) else None
        age = now - finished if finished else None
        details.append(
            f"{name}: {j.get('status', '?')} exit {j.get('exit_code')} finished {age or 'never'} ago"
        )
        if isinstance(j, dict) and j.get("status") in ("failed", "timeout", "error", "interrupted"):
            status = "WARN"
        if age is not None and age > timedelta(days=2):
            status = "WARN"
            details[-1] += " (stale)"
    for pid_file in sorted((path.parent / "locks").glob("*.pid")):
        import psutil

        held = read_json_if_exists(pid_file, max_bytes=4096)  # {"runner_pid": ...}; FIFO-safe read
        value = held.value if held is not None and held.ok else None
        pid = str(value.get("runner_pid", "") if isinstance(value, dict) else value)
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            details.append(
                f"lock {pid_file.stem}: held by dead pid {pid} (stale; the next run takes it over)"
            )
            status = "WARN"
    reason = f"{len(jobs)} job(s)" + (f"; {details[0]}" if details else "")
    return Check("scheduler", status, reason if status == "OK" else f"{reason}; see details", details)


def tensorboard_logs(ctx: Context) -> Check:
    from ztbkit.tensorboard import scrape

    folders = [ctx.folder / d for d in ("tb", "tensorboard") if (ctx.folder / d).is_dir()]
    if not folders:
        return Check("tensorboard", "OK", "no tb/ or tensorboard/ folder in the session")
    runs, problems = 0, []
    for f in folders:
        result = scrape(f)
        runs += len(result.runs)
        problems += [str(p) for p in result.problems]
    if problems:
        return Check("tensorboard", "WARN", f"{len(problems)} problem(s): {problems[0]}", problems)
    return Check("tensorboard", "OK", f"{runs} run(s) parse cleanly")


CHECKS: tuple[Callable[[Context], Check], ...] = (
    validate_artifacts, collect_last_errors, progress_eta, disk_health, kernel_starts, webhook_configured,
    scheduler_state, tensorboard_logs,
)  # fmt: skip


@dataclass(slots=True)
class DoctorReport:
    correlation_id: str
    checks: list[Check]
    report_path: Path | None = None

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.checks) for s in ("OK", "WARN", "FAIL")}

    def summary_line(self) -> str:
        c = self.counts()
        return f"Doctor Summary: OK={c['OK']}, WARN={c['WARN']}, FAIL={c['FAIL']}"

    def to_json(self) -> dict[str, Any]:
        return {"correlation_id": self.correlation_id, "checks": [asdict(c) for c in self.checks],
                "summary": self.counts(), "report": str(self.report_path) if self.report_path else None}  # fmt: skip

    def text(self, now: datetime) -> str:
        lines = [
            f"ztb doctor — session {safe_repr(self.correlation_id)} — {now.astimezone(default_tz()):%Y-%m-%d %H:%M:%S %Z}",
            "",
        ]
        for c in self.checks:
            lines.append(c.line())
            lines += [f"    {safe_repr(d)}" for d in c.details]
        return "\n".join([*lines, "", self.summary_line()]) + "\n"


def run_doctor(
    artifacts_dir: str | os.PathLike[str],
    correlation_id: str,
    *,
    total_steps: int | None = None,
    state_file: str | os.PathLike[str] = ".ztb/cronish-state.json",
    checks: tuple[Callable[[Context], Check], ...] = CHECKS,
    clock: Clock = SYSTEM_CLOCK,
    host: Host | None = None,
) -> DoctorReport:
    """Run every check in order and write reports/doctor.txt. Raises only for an unknown session (exit 2)."""
    folder = Path(artifacts_dir) / check_component(correlation_id, "--correlation-id")
    if not folder.is_dir():
        raise ArtifactsNotFoundError(f"--correlation-id: no session folder {folder}")
    report_path = check_inside(folder / "reports" / "doctor.txt", artifacts_dir)  # before any work
    ctx = Context(folder, correlation_id, total_steps, Path(state_file), clock, host=host or Host())
    results = []
    for check in checks:
        name = check.__name__
        try:
            results.append(check(ctx))
        except Exception as exc:  # a crashing check is a FAIL with its reason, never a crash of the doctor
            where = traceback.extract_tb(exc.__traceback__)[-1]
            results.append(Check(name, "FAIL", f"check crashed: {type(exc).__name__}: {exc}",
                                 [f"at {Path(where.filename).name}:{where.lineno}"]))  # fmt: skip
    report = DoctorReport(correlation_id, results)
    report.report_path = report_path
    atomic_write_text(report.report_path, report.text(clock.now()))
    return report
