"""File identities for caches keyed by "the files this came from", and when a folder's mtime can stand
in for listing it.

Policy (the caches built on it depend on it):

* A file's identity is ``[size, mtime_ns, inode, ctime_ns]`` (``None``: absent). The change time is
  there because an mtime can be put back exactly (``touch -r``, ``cp -p`` or ``rsync -a`` of an older
  copy over the file) and a change time cannot. A change that keeps size and
  mtime *second* is still seen (nanoseconds are compared); a rewrite in place within one tick of the
  file system's clock is not, so an identity taken less than :data:`RACY_NS` after the file's mtime is
  *racy* and must not be trusted later (the next run looks again) — git's "racily clean" rule.
* A folder's mtime changes whenever an entry is created, removed or renamed in it on the local file
  systems of Linux listed in :data:`TRUSTED_FS` (ext4, xfs, btrfs, tmpfs, …). There an unchanged,
  non-racy folder mtime means the same names, and the folder need not be listed again. Elsewhere —
  network file systems (NFS and SMB/CIFS cache attributes, FUSE mounts such as sshfs vary), macOS,
  Windows, or a mount table that cannot be read — :func:`mtimes_trusted` is False and callers list the
  folder every time (the safe path). ``ZTB_TRUST_DIR_MTIMES=0`` forces the safe path anywhere.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Any

#: An identity taken within this many nanoseconds of a file's mtime is not trusted later (2 s: covers
#: coarse kernel clock ticks and FAT's 2-second mtimes).
RACY_NS = 2_000_000_000
#: Local Linux file systems whose folder mtime changes on every create, remove and rename inside it.
TRUSTED_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs", "zfs", "jfs", "reiserfs"})


def file_identity(path: str) -> list[int] | None:
    """``[size, mtime_ns, inode, ctime_ns]`` of ``path`` (links followed); None when absent or unreadable."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def now_ns() -> int:
    """The wall clock in nanoseconds (file mtimes are wall-clock times)."""
    return time.time_ns()


def is_racy(identity: Any, taken_ns: int) -> bool:
    """True when the identity's mtime (second field) is within :data:`RACY_NS` of ``taken_ns`` (or after
    it: a clock put back): a later change in the same clock tick would keep the same identity."""
    return isinstance(identity, list) and len(identity) >= 2 and identity[1] >= taken_ns - RACY_NS


@functools.lru_cache(maxsize=1)
def _mounts() -> tuple[tuple[str, str], ...]:
    """(mount point, file system type) from /proc/self/mountinfo, longest mount point first."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ()
    found = []
    for line in lines:
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        sep = fields.index("-", 6)
        point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        found.append((point, fields[sep + 1]))
    return tuple(sorted(found, key=lambda m: len(m[0]), reverse=True))


def filesystem_type(path: str) -> str | None:
    """The type of the file system holding ``path`` on Linux (``ext4``, ``nfs4``, …); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    real = os.path.realpath(path)
    for point, kind in _mounts():
        if real == point or real.startswith(point.rstrip("/") + "/"):
            return kind
    return None


def mtimes_trusted(path: str) -> bool:
    """Whether an unchanged folder mtime under ``path`` means an unchanged list of names (see above)."""
    if os.environ.get("ZTB_TRUST_DIR_MTIMES", "") == "0":
        return False
    return filesystem_type(path) in TRUSTED_FS
