"""ztbkit.proc: a job's own process group tied to its runner, killing a recorded job safely.

Linux behaviour is tested with real processes. The Windows branches are tested with the platform
faked where that means something (the Popen flags, the job-object call sequence and structure
size); the test marked Windows-only runs the real thing on a Windows CI
(``python -m pytest tests/test_proc.py`` on windows-latest).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from ztbkit.core import proc


def gone(pid: int, deadline: float = 20) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def test_popen_kwargs_per_platform() -> None:
    win = proc.job_popen_kwargs("win32")
    assert win == {"creationflags": 0x00000200 | 0x08000000}  # CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW
    mac = proc.job_popen_kwargs("darwin")
    assert mac == {"start_new_session": True}
    linux = proc.job_popen_kwargs("linux")
    assert linux["start_new_session"] is True and callable(linux["preexec_fn"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_job_dies_with_its_runner_on_linux(tmp_path: Path) -> None:
    pid_file = tmp_path / "job.pid"
    middle = (f"import subprocess, sys, time; from ztbkit.core.proc import job_popen_kwargs; "
              f"p = subprocess.Popen(['sleep', '300'], **job_popen_kwargs()); "
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(300)")  # fmt: skip
    runner = subprocess.Popen([sys.executable, "-c", middle])
    end = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text(encoding="utf-8")) and time.monotonic() < end:
        time.sleep(0.02)
    job = int(pid_file.read_text(encoding="utf-8"))
    assert os.getpgid(job) == job and os.getsid(job) == job  # its own session and group
    runner.kill()  # kill -9
    runner.wait()
    assert gone(job), "the job outlived its runner"


def test_kill_recorded_group_never_kills_a_reused_pid() -> None:
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        real_start = proc.start_time(other.pid)
        assert real_start is not None
        assert (
            proc.kill_recorded_group(other.pid, real_start - 1000) == []
        )  # recorded long ago: another process
        time.sleep(0.2)
        assert other.poll() is None
        assert other.pid in proc.kill_recorded_group(other.pid, real_start)
        assert gone(other.pid)
    finally:
        other.kill()


@pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")
def test_kill_recorded_group_finds_the_group_after_its_leader_died(tmp_path: Path) -> None:
    pid_file = tmp_path / "member.pid"
    leader = subprocess.Popen(["/bin/sh", "-c", f"sleep 300 & echo $! > {pid_file}; exec sleep 300"],
                              start_new_session=True)  # fmt: skip
    end = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text(encoding="utf-8").strip()) and time.monotonic() < end:
        time.sleep(0.02)
    member = int(pid_file.read_text(encoding="utf-8"))
    started = proc.start_time(leader.pid)
    assert started is not None
    leader.kill()
    leader.wait()
    assert not gone(member, 0.3)  # the member is an orphan in the dead leader's group
    assert proc.kill_recorded_group(leader.pid, started) == [member]
    assert gone(member)


class FakeKernel32:
    """Records the calls KillOnCloseJob makes; ``fail`` names a call that returns 0 (failure)."""

    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail = fail
        self.limit_flags: int | None = None
        self.size: int | None = None

    def CreateJobObjectW(self, attrs: Any, name: Any) -> int:
        self.calls.append(("CreateJobObjectW", (attrs, name)))
        return 0 if self.fail == "create" else 77

    def SetInformationJobObject(self, handle: int, klass: int, info: Any, size: int) -> int:
        self.calls.append(("SetInformationJobObject", (handle, klass)))
        self.limit_flags = info._obj.BasicLimitInformation.LimitFlags
        self.size = size
        return 0 if self.fail == "set" else 1

    def AssignProcessToJobObject(self, handle: int, process: int) -> int:
        self.calls.append(("AssignProcessToJobObject", (handle, process)))
        return 0 if self.fail == "assign" else 1

    def CloseHandle(self, handle: int) -> int:
        self.calls.append(("CloseHandle", handle))
        return 1


def test_kill_on_close_job_object_call_sequence() -> None:
    k = FakeKernel32()
    job = proc.KillOnCloseJob(1234, kernel32=k)
    assert [c[0] for c in k.calls] == [
        "CreateJobObjectW",
        "SetInformationJobObject",
        "AssignProcessToJobObject",
    ]
    assert k.calls[1][1] == (77, 9)  # JobObjectExtendedLimitInformation
    assert k.calls[2][1] == (77, 1234)
    assert k.limit_flags == 0x2000  # JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    if ctypes.sizeof(ctypes.c_void_p) == 8:
        assert k.size == 144  # sizeof(JOBOBJECT_EXTENDED_LIMIT_INFORMATION) on 64-bit Windows
    job.close()
    job.close()  # closing twice is harmless
    assert k.calls[3:] == [("CloseHandle", 77)]


@pytest.mark.parametrize("fail", ["create", "set", "assign"])
def test_kill_on_close_job_object_failures_are_oserrors(fail: str) -> None:
    k = FakeKernel32(fail)
    with pytest.raises(OSError):
        proc.KillOnCloseJob(1234, kernel32=k)
    if fail != "create":
        assert k.calls[-1] == ("CloseHandle", 77)  # no handle leaks


@pytest.mark.skipif(sys.platform != "win32", reason="Windows only: runs on a Windows CI")
def test_kill_on_close_job_object_kills_the_tree_on_windows() -> None:  # pragma: no cover - Windows
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); time.sleep(300)"],
                             **proc.job_popen_kwargs())  # fmt: skip
    job = proc.KillOnCloseJob(int(child._handle))  # type: ignore[attr-defined]
    time.sleep(2)
    family = [child.pid, *(c.pid for c in psutil.Process(child.pid).children(recursive=True))]
    job.close()
    assert all(gone(pid) for pid in family)


def test_sigbreak_stops_the_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows' Ctrl+Break is SIGBREAK; imitated with SIGUSR1 standing in for it."""
    from ztbkit.core.clock import FakeClock
    from ztbkit.schedule.runner import Job, Runner

    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    lines: list[str] = []

    class Clock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 1:
                os.kill(os.getpid(), signal.SIGUSR1)

    r = Runner([Job("j", ("true",), interval_sec=3600)], state_file=tmp_path / "s.json", log_dir=tmp_path,
               clock=Clock(), say=lines.append, stop_poll=1)  # fmt: skip
    before = signal.getsignal(signal.SIGUSR1)
    assert r.run() == 0 and "stopping: SIGUSR1" in lines
    assert signal.getsignal(signal.SIGUSR1) == before
