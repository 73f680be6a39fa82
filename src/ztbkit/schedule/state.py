"""The scheduler's shared state file and its per-job locks.

Policy (users depend on it):

* **One file, many runners.** The state file is ``{"version": 1, "jobs": {name: entry}}``. Every
  change is read-modify-write of *one job's entry* under a lock on ``<state>.lock``: the file is
  read again, that entry changed, the file replaced atomically. No runner ever writes the whole
  file from memory, so any number of runners and job names can share one state file.
* **Nothing bad is trusted.** A file that cannot be read is kept as ``<state>.unreadable`` and the
  runner starts fresh; an entry with a wrong type, a naive time or a ``last_slot`` more than a day
  in the future is kept in ``<state>.<job>.bad.json`` and that job starts fresh. Both are said in
  one line naming the file and key.
* **One lock per job** (``locks/<job>.lock``, an OS lock the kernel drops when its holder dies).
  While a runner holds it, ``locks/<job>.pid`` names the runner and the job's process (pid and start
  time); a clean release deletes it first, so a pid file found on taking the lock means its runner
  died. Lock or pid paths that are not regular files are refused with a one-line error, never opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ztbkit.core.clock import parse_aware
from ztbkit.core.errors import N_, InputFileError, Reason, os_reason, shown
from ztbkit.core.fsio import atomic_write_json, make_folders
from ztbkit.core.jsonread import read_json_if_exists
from ztbkit.locale import _

Say = Callable[[str], None]
FUTURE_LIMIT = timedelta(days=1)  # a last_slot further ahead than this is corrupt, not a clock step


def check_regular(path: Path) -> None:
    """Raise InputFileError when ``path`` exists and is not a regular file (a FIFO, folder, device)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputFileError("{path}: cannot use it: {reason}", path=path, reason=os_reason(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        kind = N_("a folder") if stat.S_ISDIR(st.st_mode) else N_("not a regular file")
        raise InputFileError(
            "{path}: is {kind}; remove it so the scheduler can use the path", path=path, kind=kind
        )


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from the state's ISO text, else None (:func:`ztbkit.core.clock.parse_aware`)."""
    return parse_aware(value)


def entry_problem(entry: Any, now: datetime) -> str | None:
    """Why a job's state entry cannot be used, naming the key; None when it is fine."""
    if not isinstance(entry, dict):
        return Reason("is {type}, expected an object", type=type(entry).__name__)
    if "last_slot" in entry:
        slot = parse_time(entry["last_slot"])
        if slot is None:
            return Reason("{key} {value} is not an ISO time with a UTC offset", key="'last_slot'",
                          value=repr(entry["last_slot"]))  # fmt: skip
        if slot - now > FUTURE_LIMIT:
            return Reason("{key} {value} is in the future", key="'last_slot'", value=entry["last_slot"])
    runs = entry.get("runs", 0)
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 0:
        return Reason("{key} {value} is not a count", key="'runs'", value=repr(runs))
    for key in ("status", "detail", "running_slot", "missed_slot", "last_start", "last_finish"):
        if key in entry and entry[key] is not None and not isinstance(entry[key], str):
            return Reason("{key} {value} is not text", key=repr(key), value=repr(entry[key]))
    return None


class StateStore:
    """Per-job entries of the shared state file, each changed under the file's lock."""

    def __init__(self, path: str | os.PathLike[str], say: Say) -> None:
        self.path = Path(path)
        self.say = say
        self.lock_path = self.path.with_name(f"{self.path.name}.lock")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        from filelock import FileLock

        make_folders(self.path.parent)
        check_regular(self.lock_path)
        with FileLock(str(self.lock_path), timeout=60):
            yield

    def _read_all(self) -> dict[str, Any]:
        read = read_json_if_exists(self.path)
        if read is None:
            return {"version": 1, "jobs": {}}
        if read.ok and isinstance(read.value, dict) and isinstance(read.value.get("jobs"), dict):
            return read.value
        backup = self.path.with_name(f"{self.path.name}.unreadable")
        problem = read.problem or _("{path}: 'jobs' missing or not an object").format(path=self.path)
        if os.path.lexists(self.path) and not stat.S_ISREG(os.lstat(self.path).st_mode):
            raise InputFileError("{problem}; remove it so the scheduler can write its state", problem=problem)
        os.replace(self.path, backup)
        self.say(
            "warning: "
            + _("{problem}; kept as {name}, starting fresh").format(problem=problem, name=backup.name)
        )
        return {"version": 1, "jobs": {}}

    def _valid_entry(self, doc: dict[str, Any], name: str, now: datetime) -> tuple[dict[str, Any], bool]:
        """(the job's entry, whether a bad one was set aside and the file must be rewritten)."""
        entry = doc["jobs"].get(name)
        if entry is None:
            return {}, False
        why = entry_problem(entry, now)
        if why is None:
            return dict(entry), False
        aside = self.path.with_name(f"{self.path.name}.{name}.bad.json")
        try:
            atomic_write_json(aside, {"job": name, "problem": why, "entry": entry})
        except ValueError:  # NaN/Infinity: Python's json reads them but strict JSON cannot hold them
            atomic_write_json(aside, {"job": name, "problem": why, "entry_text": repr(entry)})
        self.say(
            f"warning: {self.path}: jobs.{name}: "
            + _("{why}; kept in {aside}, starting this job fresh").format(why=shown(why), aside=aside.name)
        )
        del doc["jobs"][name]
        return {}, True

    def entry(self, name: str, now: datetime) -> dict[str, Any]:
        """A validated copy of one job's entry ({} when there is none)."""
        with self._locked():
            doc = self._read_all()
            entry, dirty = self._valid_entry(doc, name, now)
            if dirty:
                atomic_write_json(self.path, doc)
            return entry

    def update(self, name: str, now: datetime, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply ``change`` to one job's entry: read, change, replace atomically, all under the lock."""
        with self._locked():
            doc = self._read_all()
            entry, _ = self._valid_entry(doc, name, now)
            change(entry)
            doc["jobs"][name] = entry
            doc["version"] = 1
            atomic_write_json(self.path, doc)
            return entry

    def last_slot(self, name: str, now: datetime) -> datetime | None:
        return parse_time(self.entry(name, now).get("last_slot"))


class JobLock:
    """``locks/<job>.lock`` plus the pid file naming who holds it and what it runs."""

    def __init__(self, lock_dir: Path, name: str) -> None:
        self.dir = lock_dir
        self.lock_path = lock_dir / f"{name}.lock"
        self.pid_path = lock_dir / f"{name}.pid"
        self._lock: Any = None

    def try_acquire(self) -> bool:
        from filelock import FileLock, Timeout

        try:
            make_folders(self.dir)
        except OSError as exc:
            raise InputFileError(
                "{path}: cannot make the lock folder: {reason}", path=self.dir, reason=os_reason(exc)
            ) from None
        check_regular(self.lock_path)
        check_regular(self.pid_path)
        lock = FileLock(str(self.lock_path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return False
        self._lock = lock
        return True

    def holder(self) -> dict[str, Any] | None:
        """What the pid file says (None when there is none or it cannot be read)."""
        check_regular(self.pid_path)
        read = read_json_if_exists(self.pid_path, max_bytes=4096)
        if read is None:
            return None
        if read.ok and isinstance(read.value, dict):
            return read.value
        if read.ok and isinstance(read.value, int) and not isinstance(read.value, bool):
            return {"runner_pid": read.value}  # a pid file written by ztbkit before 0.x: still evidence
        return {"runner_pid": "unreadable pid file"}

    def record(self, *, fresh: bool = False, **fields: Any) -> None:
        """Write the pid file (the lock must be held): who holds it, and the job's processes.
        ``fresh`` drops what an earlier (dead) holder recorded."""
        current = {} if fresh else (self.holder() or {})
        current.update(fields)
        atomic_write_json(self.pid_path, current, durable=False)

    def release(self) -> None:
        """Delete the pid file, then drop the lock (in that order: see the module docstring)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pid_path)
        if self._lock is not None:
            self._lock.release()
            self._lock = None
