"""Process control shared by the report runner, the scheduler and the compat wrapper.

One concern, one module: start a child so that it can be killed with everything it started, and
kill such a tree. Kernels started by jupyter_client and jobs started by cronish run in sessions of
their own, so killing one process group is not enough: every descendant's group is killed too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def new_group_kwargs() -> dict[str, Any]:
    """Popen keyword arguments that put a child in a process group (POSIX session) of its own."""
    if os.name == "posix":
        return {"start_new_session": True}
    return {"creationflags": 0x00000200}  # CREATE_NEW_PROCESS_GROUP


def kill_tree(pid: int, *, wait: float = 10.0) -> dict[int, int | None]:
    """Kill a process and all its descendants, each in its own group too; wait up to ``wait`` s.

    A pid that no longer exists is not an error. Descendants are collected before anything is
    killed, so children re-parented to init by the kill are still found. Returns the exit status
    of each process that ended (negative: the signal), by pid: waiting here reaps our own child,
    so ``Popen.wait`` afterwards can only say 0 and the caller must take the status from here.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    for p in reversed(family):
        with contextlib.suppress(psutil.Error, OSError):
            if os.name == "posix":
                os.killpg(os.getpgid(p.pid), signal.SIGKILL)
            p.kill()
    gone, _alive = psutil.wait_procs(family, timeout=wait)
    return {p.pid: getattr(p, "returncode", None) for p in gone}


def pid_alive(pid: int) -> bool:
    """True when ``pid`` names a live (not zombie) process."""
    import psutil

    try:
        return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def session_members(sid: int) -> list[int]:
    """Pids of live processes in POSIX session ``sid`` (a double-forked daemon keeps its session)."""
    import psutil

    if os.name != "posix":
        return []
    found = []
    for p in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if p.pid != os.getpid() and os.getsid(p.pid) == sid:
                found.append(p.pid)
    return found


def pipe_holders(fd: int) -> list[int]:
    """Pids (other than this one) holding the pipe ``fd`` open; Linux only, else empty.

    A child that left its session (``setsid`` after a double fork) is still found this way.
    """
    proc_root = Path("/proc")
    if not (proc_root / "self" / "fd").is_dir():
        return []
    try:
        wanted = f"pipe:[{os.fstat(fd).st_ino}]"
    except OSError:
        return []
    holders = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            for link in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(link) == wanted:
                        holders.append(int(entry.name))
                        break
    return holders


def kill_pids(pids: list[int]) -> None:
    """SIGKILL (TerminateProcess on Windows) each pid and what it started; missing pids are fine."""
    for pid in pids:
        kill_tree(pid, wait=2.0)


def start_time(pid: int) -> float | None:
    """When ``pid`` started (seconds since the epoch, as psutil reports it), or None if it is gone.

    A pid plus its start time names one process for good: a later process that reuses the pid has
    a different start time, so it is never mistaken for the one recorded.
    """
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def same_process(pid: int, started: float) -> bool:
    """True when ``pid`` is alive and is the process that started at ``started``."""
    now = start_time(pid)
    return now is not None and abs(now - started) < 0.05 and pid_alive(pid)


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn (Linux): the child gets SIGKILL when the runner dies, even by ``kill -9``.

    libc is loaded here, before the fork, so the child only calls into it. If the parent died
    between fork and prctl the signal would never come, so the child checks and exits.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(137)

    return preexec


CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000


def job_popen_kwargs(platform: str | None = None) -> dict[str, Any]:
    """Popen keyword arguments for a scheduled job: its own process group, tied to the runner.

    Linux: a new session (its pid is its process group) whose leader gets PR_SET_PDEATHSIG=SIGKILL.
    Other POSIX: a new session only. Windows: a new process group (Ctrl+C/Ctrl+Break at the
    runner's console do not reach it) and no console window; :class:`KillOnCloseJob` then ties it
    to the runner's life.
    """
    platform = platform or sys.platform
    if platform == "win32":
        return {"creationflags": CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW}
    kwargs: dict[str, Any] = {"start_new_session": True}
    if platform.startswith("linux"):
        kwargs["preexec_fn"] = _die_with_parent(os.getpid())
    return kwargs


def kill_recorded_group(pid: int, started: float) -> list[int]:
    """Kill what is left of a job recorded as (leader ``pid``, its start time); return pids killed.

    The leader is killed with its whole tree only if it is still that very process. If it is gone,
    the members of its process group (a group id is never reused while the group has members) that
    started no earlier than it did are killed. A pid reused by an unrelated process is left alone.
    """
    import psutil

    killed: list[int] = []
    leader_now = start_time(pid)
    if leader_now is not None and abs(leader_now - started) >= 0.05:
        return killed  # the pid now belongs to somebody else
    if leader_now is not None:
        with contextlib.suppress(psutil.Error):
            killed += [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
        kill_tree(pid)
    if os.name != "posix":
        return killed
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(p.pid) == pid and p.create_time() >= started - 0.05:
                # kill_tree takes the member's whole tree (kernels in sessions of their own too):
                # name every one of them, not just the member
                with contextlib.suppress(psutil.Error):
                    killed += [p.pid, *(c.pid for c in p.children(recursive=True))]
                kill_tree(p.pid)
    return list(dict.fromkeys(killed))  # once each, in the order found


def descendants(pid: int) -> list[list[float]]:
    """``[[pid, start time], ...]`` of every live descendant of ``pid`` (for a record to kill later).

    Descendants that started sessions of their own (Jupyter kernels do) leave the job's process
    group, so a record of them is what lets a later runner find them after a ``kill -9``.
    """
    import psutil

    found: list[list[float]] = []
    try:
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                found.append([child.pid, float(child.create_time())])
    except psutil.Error:
        pass
    return found


def kill_recorded(processes: Any) -> list[int]:
    """Kill each ``[pid, start time]`` in ``processes`` that is still that very process; return pids killed."""
    killed: list[int] = []
    for item in processes if isinstance(processes, list) else []:
        if isinstance(item, list) and len(item) == 2 and all(isinstance(v, int | float) for v in item):
            pid, started = int(item[0]), float(item[1])
            if same_process(pid, started):
                kill_tree(pid)
                killed.append(pid)
    return killed


class KillOnCloseJob:
    """Windows: a job object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE holding a child.

    The runner keeps the handle open while the job runs; when the runner dies (even by
    ``taskkill /F``) Windows closes the handle and kills every process in the job object,
    grandchildren included. Written against ctypes (no pywin32 dependency for four calls);
    ``kernel32`` is a parameter so the call sequence is testable off Windows.
    """

    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
    JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9

    def __init__(self, process_handle: int, kernel32: Any = None) -> None:
        import ctypes

        if kernel32 is None:
            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
        self._k = kernel32
        self.handle = kernel32.CreateJobObjectW(None, None)
        if not self.handle:
            raise OSError("CreateJobObjectW failed")
        info = _extended_limit_information()
        info.BasicLimitInformation.LimitFlags = self.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        ok = kernel32.SetInformationJobObject(
            self.handle,
            self.JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
            ctypes.byref(info),
            ctypes.sizeof(info),
        )
        if not ok or not kernel32.AssignProcessToJobObject(self.handle, process_handle):
            kernel32.CloseHandle(self.handle)
            raise OSError("could not put the job in a kill-on-close job object")

    def close(self) -> None:
        """Close the handle: anything still in the job object is killed."""
        if self.handle:
            self._k.CloseHandle(self.handle)
            self.handle = None


def _extended_limit_information() -> Any:
    import ctypes

    class IoCounters(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in ("ReadOperationCount", "WriteOperationCount",
                    "OtherOperationCount", "ReadTransferCount", "WriteTransferCount", "OtherTransferCount")]  # fmt: skip

    class Basic(ctypes.Structure):
        _fields_ = [("PerProcessUserTimeLimit", ctypes.c_int64), ("PerJobUserTimeLimit", ctypes.c_int64),
                    ("LimitFlags", ctypes.c_uint32), ("MinimumWorkingSetSize", ctypes.c_size_t),
                    ("MaximumWorkingSetSize", ctypes.c_size_t), ("ActiveProcessLimit", ctypes.c_uint32),
                    ("Affinity", ctypes.c_size_t), ("PriorityClass", ctypes.c_uint32),
                    ("SchedulingClass", ctypes.c_uint32)]  # fmt: skip

    class Extended(ctypes.Structure):
        _fields_ = [("BasicLimitInformation", Basic), ("IoInfo", IoCounters),
                    ("ProcessMemoryLimit", ctypes.c_size_t), ("JobMemoryLimit", ctypes.c_size_t),
                    ("PeakProcessMemoryUsed", ctypes.c_size_t), ("PeakJobMemoryUsed", ctypes.c_size_t)]  # fmt: skip

    return Extended()
