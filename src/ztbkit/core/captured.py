"""Run a child with its output captured, a hard deadline, and nothing left behind (compat's ``run``).

Policy:

* The child runs in a process group (POSIX session) of its own with ``PYTHONUTF8=1``, stdin closed.
* At ``timeout`` seconds the whole tree is killed: the child, its descendants, every process still
  in its session (a double-forked daemon) and, on Linux, any process still holding its output pipe.
* After the child ends, the output is read on for at most ``grace`` seconds; whoever still holds the
  pipe then is killed the same way, and reading stops no later than ``grace`` seconds after that, so
  the caller never waits forever on a pipe a stray grandchild keeps open.
* Each stream keeps its first ``cap`` bytes, then a truncation marker. Output is decoded as UTF-8,
  else in the locale's encoding (a Windows child writing cp932), with replacement characters.
* The result says how the child ended: ``returncode`` and, when a signal killed it, ``signal``.
"""

from __future__ import annotations

import contextlib
import locale
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ztbkit.core.proc import kill_pids, kill_tree, new_group_kwargs, pipe_holders, session_members

TRUNCATED = "\n[... truncated by ztb compat: {n} more bytes ...]\n"


@dataclass
class _Stream:
    cap: int
    kept: bytearray = field(default_factory=bytearray)
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pump(self, stream: Any) -> None:
        try:
            for chunk in iter(lambda: stream.read1(65536), b""):
                with self.lock:
                    room = self.cap - len(self.kept)
                    self.kept += chunk[: max(0, room)]
                    self.dropped += max(0, len(chunk) - max(0, room))
        except (OSError, ValueError):
            pass  # the pipe was closed under us at the deadline

    def text(self) -> str:
        with self.lock:
            data, dropped = bytes(self.kept), self.dropped
        return decode_output(data, cut=dropped > 0) + (TRUNCATED.format(n=dropped) if dropped else "")


def decode_output(data: bytes, *, cut: bool = False) -> str:
    """UTF-8 (a sequence cut by the cap is dropped), else the locale encoding, never raising."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if cut and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8")
    encoding = locale.getpreferredencoding(False) or "utf-8"
    try:
        return data.decode(encoding, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def signal_name(returncode: int | None) -> str | None:
    """``SIGKILL`` for a returncode of -9; None when the child exited by itself."""
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def child_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child: ``base`` plus UTF-8 mode for Python children."""
    return {**base, "PYTHONUTF8": "1", "PYTHONIOENCODING": "utf-8"}


def run_captured(argv: Sequence[str], *, timeout: float, cap: int, env: Mapping[str, str],
                 grace: float = 2.0) -> dict[str, Any]:  # fmt: skip
    """Run ``argv``; return returncode, signal, stdout, stderr, timed_out (see the module policy).

    Raises OSError when the program cannot be started.
    """
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=child_env(env), **new_group_kwargs())  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    pipes = [proc.stdout, proc.stderr]
    streams = [_Stream(cap), _Stream(cap)]
    readers = [
        threading.Thread(target=s.pump, args=(p,), daemon=True) for s, p in zip(streams, pipes, strict=True)
    ]
    for t in readers:
        t.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        reaped = _kill_everything(proc, pipes)
        proc.wait()
        if reaped.get(proc.pid) is not None:  # kill_tree reaped it: Popen alone would say 0
            proc.returncode = reaped[proc.pid]
    if not _join(readers, grace):
        _kill_everything(proc, pipes)
        if not _join(readers, grace):
            for p in pipes:  # stop reading: whatever still holds the pipe cannot be killed by us
                with contextlib.suppress(OSError):
                    p.close()
    return {"returncode": proc.returncode, "signal": signal_name(proc.returncode),
            "stdout": streams[0].text(), "stderr": streams[1].text(), "timed_out": timed_out}  # fmt: skip


def _join(readers: list[threading.Thread], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    for t in readers:
        t.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in readers)


def _kill_everything(proc: subprocess.Popen[bytes], pipes: list[Any]) -> dict[int, int | None]:
    reaped = kill_tree(proc.pid, wait=2.0)
    stray = set(session_members(proc.pid))
    for p in pipes:
        with contextlib.suppress(OSError, ValueError):
            stray.update(pipe_holders(p.fileno()))
    stray.discard(os.getpid())
    kill_pids(sorted(stray))
    return reaped
