"""What ``ztb doctor``'s checks are made of: a :class:`Check` result, and the :class:`Context` each
check reads (the session folder, the scheduler state file, the clock, the host's measurements)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ztbkit.core.clock import Clock
from ztbkit.core.ids import safe_repr


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
