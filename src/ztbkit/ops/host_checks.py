"""Doctor checks of the machine and of ztbkit around the session: disk, report kernel, webhook,
scheduler, TensorBoard logs."""

from __future__ import annotations

import time
from datetime import timedelta

from ztbkit.core.jsonread import read_json_if_exists
from ztbkit.core.values import parse_timestamp
from ztbkit.locale import _
from ztbkit.ops.checks import Check, Context


def disk_health(ctx: Context) -> Check:
    """FAIL under 5% free space or inodes, WARN under 15% or when 1 MB write+fsync takes over 2 s."""
    total, free = ctx.host.disk_space(ctx.folder)
    free_pct = free / total * 100
    details = [_("free {free} GB of {total} GB ({pct}%)").format(
        free=f"{free / 2**30:.1f}", total=f"{total / 2**30:.1f}", pct=f"{free_pct:.1f}")]  # fmt: skip
    status = "FAIL" if free_pct < 5 else "WARN" if free_pct < 15 else "OK"
    inodes = ctx.host.inodes(ctx.folder)
    if inodes is not None:
        inode_pct = inodes[1] / inodes[0] * 100
        details.append(_("free inodes {pct}%").format(pct=f"{inode_pct:.1f}"))
        if inode_pct < 5:
            status = "FAIL"
        elif inode_pct < 15 and status == "OK":
            status = "WARN"
    latency = ctx.host.write_latency(ctx.folder)
    details.append(_("1 MB write+fsync took {ms} ms").format(ms=f"{latency * 1000:.0f}"))
    if latency > 2 and status == "OK":
        status = "WARN"
    return Check("disk_health", status, "; ".join(details), details)


def kernel_starts(ctx: Context) -> Check:
    from jupyter_client.manager import KernelManager

    from ztbkit.reports.kernel import kernel_name, kernel_transport

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
        _("kernel {name} started and imported ztbkit in {seconds} s").format(
            name=repr(name), seconds=f"{time.perf_counter() - t0:.1f}"
        ),
    )


def webhook_configured(ctx: Context) -> Check:
    from ztbkit.notify import NO_WEBHOOK, check_configuration

    ok, why = check_configuration()
    if ok:
        return Check("webhook", "OK", why + _(" (not posted)"))
    # Judged on the message id, not its words: the same status (and Doctor Summary) in every language.
    return Check("webhook", "WARN" if why == _(NO_WEBHOOK) else "FAIL", why)


def scheduler_state(ctx: Context) -> Check:
    path = ctx.state_file
    read = read_json_if_exists(path)
    if read is None:
        return Check(
            "scheduler",
            "WARN",
            _("no scheduler state at {path} (is ztb cronish running here? --state-file)").format(path=path),
        )
    if not read.ok or not isinstance(read.value, dict):
        return Check("scheduler", "FAIL", str(read.problem or _("{path}: unknown shape").format(path=path)))
    jobs = read.value.get("jobs", {}) if isinstance(read.value.get("jobs"), dict) else {}
    details, status = [], "OK"
    now = ctx.clock.now()
    for name, j in jobs.items():
        finished = parse_timestamp(j.get("last_finish")) if isinstance(j, dict) else None
        age = now - finished if finished else None
        status_code = {"name": name, "status": j.get("status", "?"), "code": j.get("exit_code")}
        if age is None:
            details.append(_("{name}: {status} exit {code}, never finished").format(**status_code))
        else:
            details.append(
                _("{name}: {status} exit {code} finished {age} ago").format(age=age, **status_code)
            )
        if isinstance(j, dict) and j.get("status") in (
            "failed",
            "timeout",
            "error",
            "interrupted",
            "cancelled",
        ):
            status = "WARN"
        if age is not None and age > timedelta(days=2):
            status = "WARN"
            details[-1] += _(" (stale)")
    for pid_file in sorted((path.parent / "locks").glob("*.pid")):
        import psutil

        held = read_json_if_exists(pid_file, max_bytes=4096)  # {"runner_pid": ...}; FIFO-safe read
        value = held.value if held is not None and held.ok else None
        pid = str(value.get("runner_pid", "") if isinstance(value, dict) else value)
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            details.append(
                _("lock {name}: held by dead pid {pid} (stale; the next run takes it over)").format(
                    name=pid_file.stem, pid=pid)
            )  # fmt: skip
            status = "WARN"
    reason = _("{n} job(s)").format(n=len(jobs)) + (f"; {details[0]}" if details else "")
    return Check("scheduler", status, reason if status == "OK" else reason + _("; see details"), details)


def tensorboard_logs(ctx: Context) -> Check:
    from ztbkit.data.tensorboard import scrape

    folders = [ctx.folder / d for d in ("tb", "tensorboard") if (ctx.folder / d).is_dir()]
    if not folders:
        return Check("tensorboard", "OK", _("no tb/ or tensorboard/ folder in the session"))
    runs, problems = 0, []
    for f in folders:
        result = scrape(f)
        runs += len(result.runs)
        problems += [str(p) for p in result.problems]
    if problems:
        return Check("tensorboard", "WARN", _("{n} problem(s): {first}").format(n=len(problems), first=problems[0]),
                     problems)  # fmt: skip
    return Check("tensorboard", "OK", _("{n} run(s) parse cleanly").format(n=runs))
