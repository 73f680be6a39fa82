"""A lock taken at once or not at all: ``ztb watch``'s one-evaluation-at-a-time lock.

The policy users depend on: while one process holds the lock, another's :func:`try_lock` yields
``False`` at once (it never waits); the lock goes away with its holder however it ends (``kill -9``
included), because it is the operating system's advisory lock on an open file — ``flock`` on POSIX,
``msvcrt.locking`` on Windows, the same locks ``filelock.FileLock`` takes, so a process of an older
ztbkit holding the file through filelock is seen as holding it. The lock file stays (empty) after use.

Why not ``filelock.FileLock(path, timeout=0)``: importing filelock 4 costs about 43M instructions
(it pulls in ``decimal``, ``inspect``-heavy settings and 25 modules), more than a tenth of
``ztb --help``, on a path cron runs every minute with nothing to do. What waits for a lock (the
outbox, the scheduler's state, silences, notes) still uses filelock.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


def _take(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:  # held by another process (Windows says EACCES or EDEADLOCK)
            return False
    else:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # EWOULDBLOCK: held by another process; any other error is raised
            return False
    return True


def _release(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold the lock on ``path`` (created if missing) for the ``with`` block: yields ``True`` when it
    was taken, ``False`` at once when another process holds it. An unusable path (a folder, no
    permission) raises its ``OSError`` naming the file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes (PEP 446)
    try:
        taken = _take(fd)
        try:
            yield taken
        finally:
            if taken:
                _release(fd)
    finally:
        os.close(fd)
