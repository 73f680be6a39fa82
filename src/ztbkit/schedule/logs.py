"""Per-job logs of ``ztb cronish``: opened safely, capped *during* a run, rotated.

Policy (users depend on it):

* A job's output (stdout and stderr) goes to ``<log-dir>/<job>.log`` through the runner, never
  straight to the file, so the size limit holds while the job runs: when the log reaches
  ``max_bytes`` (default 5 MB, ``--log-max-mb``) a line ``=== log rotated at N bytes: continues in
  <job>.log`` ends it, it becomes ``<job>.log.1`` (``.1`` → ``.2`` → ``.3``; the oldest is dropped)
  and a fresh ``<job>.log`` begins with ``=== continued from <job>.log.1``. A job's log space is
  therefore bounded by four files of ``max_bytes`` each (20 MB at the default), however much it
  prints in one night.
* The log is opened without blocking: a FIFO, a folder or a device at its path is an ``OSError``
  (the run is recorded as an ``error``), never a hang.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from pathlib import Path
from typing import IO

from ztbkit.core.fsio import make_folders

LOG_MAX_BYTES = 5 * 2**20
LOG_BACKUPS = 3
CHUNK = 64 * 1024


def rotate(log: Path, max_bytes: int = LOG_MAX_BYTES, *, force: bool = False) -> None:
    """Shift ``job.log`` → ``job.log.1`` → … ``job.log.3`` when it has reached ``max_bytes`` (or ``force``)."""
    if not log.exists() or (not force and log.stat().st_size < max_bytes):
        return
    for i in range(LOG_BACKUPS, 0, -1):
        src = log if i == 1 else log.with_name(f"{log.name}.{i - 1}")
        if src.exists():
            os.replace(src, log.with_name(f"{log.name}.{i}"))


def open_log(log_path: Path, max_bytes: int = LOG_MAX_BYTES) -> IO[bytes]:
    """The job's log for appending (binary), never blocking; rotated first when it is full."""
    make_folders(log_path.parent)
    rotate(log_path, max_bytes)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(log_path, flags, 0o666)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    if flags & getattr(os, "O_NONBLOCK", 0):
        os.set_blocking(fd, True)
    return open(fd, "ab", buffering=0)


class CappedLog:
    """A job log that never grows past ``max_bytes``: :meth:`pump` copies a pipe into it, rotating
    with a marker line whenever the limit is reached (see the module docstring)."""

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max(int(max_bytes), 1)
        self._fh = open_log(path, self.max_bytes)
        self._size = os.fstat(self._fh.fileno()).st_size
        self._fed_here = 0  # job output in the current file: a roll needs some (else markers alone loop)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.rotations = 0
        self.write_error: str | None = None

    def write(self, text: str) -> None:
        """A runner line (``=== …``): always written whole, even past the limit."""
        with self._lock:
            self._write(text.encode("utf-8", "replace"))

    def _write(self, data: bytes) -> None:
        if self._fh.closed:  # a left-over process still printing after the run was recorded
            return
        try:
            self._fh.write(data)
            self._size += len(data)
        except OSError as exc:  # a full disk must not kill the job: its output is dropped, and said
            self.write_error = exc.strerror or str(exc)

    def _room(self) -> int:
        return self.max_bytes - self._size

    def _roll(self) -> None:
        self._write(f"\n=== log rotated at {self._size} bytes: continues in {self.path.name}\n".encode())
        self._fh.close()
        rotate(self.path, force=True)
        self._fh = open_log(self.path, self.max_bytes)
        self._size = os.fstat(self._fh.fileno()).st_size
        self._fed_here = 0
        self.rotations += 1
        self._write(f"=== continued from {self.path.name}.1\n".encode())

    def feed(self, data: bytes) -> None:
        """Append job output, rotating at the limit (a chunk is split across the files)."""
        with self._lock:
            while data:
                room = self._room()
                if room <= 0 and not self._fed_here:
                    room = len(data)  # a limit smaller than the runner's own lines: keep the output
                if room <= 0:
                    try:
                        self._roll()
                    except OSError as exc:
                        self.write_error = exc.strerror or str(exc)
                        return
                    continue
                self._write(data[:room])
                self._fed_here += min(room, len(data))
                data = data[room:]

    def pump(self, pipe: IO[bytes]) -> None:
        """Copy ``pipe`` into the log in a background thread until it ends (see :meth:`finish`)."""

        def run() -> None:
            with contextlib.suppress(OSError, ValueError):
                while chunk := pipe.read1(CHUNK) if hasattr(pipe, "read1") else pipe.read(CHUNK):
                    self.feed(chunk)

        self._thread = threading.Thread(target=run, name=f"log {self.path.name}", daemon=True)
        self._thread.start()

    def finish(self, timeout: float = 5.0) -> None:
        """Wait for the pump to reach the pipe's end (a left-over process holding the pipe open is
        not waited for longer than ``timeout``)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    def __enter__(self) -> CappedLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
