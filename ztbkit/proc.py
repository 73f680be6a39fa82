"""Process control shared by the report runner, the scheduler and the compat wrapper.

One concern, one module: start a child so that it can be killed with everything it started, and
kill such a tree. Kernels started by jupyter_client and jobs started by cronish run in sessions of
their own, so killing one process group is not enough: every descendant's group is killed too.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any


def new_group_kwargs() -> dict[str, Any]:
    """Popen keyword arguments that put a child in a process group (POSIX session) of its own."""
    if os.name == "posix":
        return {"start_new_session": True}
    return {"creationflags": 0x00000200}  # CREATE_NEW_PROCESS_GROUP


def kill_tree(pid: int, *, wait: float = 10.0) -> None:
    """Kill a process and all its descendants, each in its own group too; wait up to ``wait`` s.

    A pid that no longer exists is not an error. Descendants are collected before anything is
    killed, so children re-parented to init by the kill are still found.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in reversed(family):
        with contextlib.suppress(psutil.Error, OSError):
            if os.name == "posix":
                os.killpg(os.getpgid(p.pid), signal.SIGKILL)
            p.kill()
    psutil.wait_procs(family, timeout=wait)


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
