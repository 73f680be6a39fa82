"""The outbox: every alert is on disk before its first attempt, and leaves only when it is done.

Files in ``<state-dir>/.ztb/`` (owner read/write only on POSIX: they hold webhook URLs):

* ``ztb-outbox.spool/`` — one small file per event (a new alert, an attempt, an outcome), written
  atomically and fsync'd *without* any shared lock, so a new alert is always queued at once, even
  while another process holds the outbox.
* ``ztb-outbox.jsonl`` — the queue, one alert per line; the spool is folded into it under
  ``ztb-outbox.jsonl.lock`` (held for milliseconds, never across a network call).
* ``ztb-outbox-dead.jsonl`` — permanent refusals (3xx, 4xx other than 429) with HTTP status and a
  redacted reason, for a human to look at.
* ``ztb-outbox-quarantine.jsonl`` — lines that are not valid alerts (not UTF-8, not JSON, wrong types),
  moved there byte for byte with a one-line warning; the good entries still go out.
* ``ztb-outbox.claims/<id>.lock`` — held by the one process sending that alert right now.

Delivery is at-least-once: a kill between a server's acceptance and the outcome's spool write sends
that alert again next run. Within one run an alert id is sent at most once (retries of one attempt
sequence aside), and two processes never send the same alert at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ztbkit.core.clock import SYSTEM_CLOCK, Clock
from ztbkit.core.errors import ZtbError
from ztbkit.core.fsio import atomic_write_bytes, fsync_dir, make_folders
from ztbkit.locale import _
from ztbkit.notify.webhook import Webhook

OUTBOX_FILE, DEAD_FILE = "ztb-outbox.jsonl", "ztb-outbox-dead.jsonl"
QUARANTINE_FILE, SPOOL_DIR, CLAIMS_DIR = (
    "ztb-outbox-quarantine.jsonl",
    "ztb-outbox.spool",
    "ztb-outbox.claims",
)
Warn = Callable[[str], None]


class OutboxError(ZtbError, OSError):
    """The outbox cannot be read or written (a FIFO or folder where a file belongs, no permission)."""


def valid_entry(entry: Any) -> bool:
    """An outbox line ztbkit can send: the right keys with the right types (else it is quarantined)."""
    if not isinstance(entry, dict):
        return False
    texts = ("id", "created_at", "url", "service", "method", "suffix")
    if not all(isinstance(entry.get(k), str) for k in texts) or not isinstance(entry.get("payload"), dict):
        return False
    attempts, params = entry.get("attempts"), entry.get("params", {})
    return (
        isinstance(attempts, int) and not isinstance(attempts, bool) and 0 <= attempts < 10**9
        and entry["url"].startswith(("http://", "https://")) and entry["method"] in ("POST", "PATCH")
        and isinstance(params, dict) and all(isinstance(v, str) for v in params.values())
        and isinstance(entry.get("key"), str | None) and 0 < len(entry["id"]) <= 64 and entry["id"].isalnum()
    )  # fmt: skip


def _regular_bytes(path: Path) -> bytes | None:
    """The file's bytes; None when missing; OutboxError when it is not a regular file (no hang on a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        kind = _("a folder") if path.is_dir() else exc.strerror
        raise OutboxError(_("{path}: cannot read the outbox ({kind}); move it away so alerts can be queued").format(
            path=path, kind=kind)) from exc  # fmt: skip
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (_("a FIFO") if stat.S_ISFIFO(mode)
                    else _("a folder") if stat.S_ISDIR(mode) else _("not a regular file"))  # fmt: skip
            raise OutboxError(_("{path} is {kind}, not an outbox file; move it away so alerts can be queued").format(
                path=path, kind=kind))  # fmt: skip
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read()
    finally:
        os.close(fd)


class Outbox:
    """Alerts not yet delivered, in ``<state_dir>`` (the CLI uses ``<state-dir>/.ztb``)."""

    def __init__(self, state_dir: str | os.PathLike[str], clock: Clock = SYSTEM_CLOCK, *,
                 warn: Warn | None = None, lock_timeout: float = 2.0) -> None:  # fmt: skip
        from filelock import FileLock

        self.dir = Path(state_dir)
        self.path, self.dead_path = self.dir / OUTBOX_FILE, self.dir / DEAD_FILE
        self.quarantine_path, self.spool = self.dir / QUARANTINE_FILE, self.dir / SPOOL_DIR
        self.claims = self.dir / CLAIMS_DIR
        try:
            for folder in (self.dir, self.spool, self.claims):
                make_folders(folder, mode=0o700)
        except OSError as exc:
            raise OutboxError(_("{folder}: cannot create the outbox folder ({reason})").format(
                folder=self.dir, reason=exc.strerror)) from exc  # fmt: skip
        self._lock = FileLock(str(self.dir / f"{OUTBOX_FILE}.lock"), timeout=lock_timeout)
        self.clock, self._warn, self._warned = clock, warn or (lambda _msg: None), set[str]()

    def warn(self, message: str) -> None:
        """Pass a one-line warning on, once per message."""
        if message not in self._warned:
            self._warned.add(message)
            self._warn(message)

    # ---- writing events (no shared lock) -------------------------------------------------------
    def _event(self, event: dict[str, Any]) -> None:
        name = f"{self.clock.now().strftime('%Y%m%dT%H%M%S%f')}-{os.getpid()}-{uuid.uuid4().hex[:12]}.json"
        data = json.dumps(event, ensure_ascii=False).encode("utf-8")
        atomic_write_bytes(self.spool / name, data, mode=0o600)
        fsync_dir(self.spool)

    def enqueue(self, webhook: Webhook, payload: dict[str, Any], *, method: str = "POST", suffix: str = "",
                params: dict[str, str] | None = None, key: str | None = None,
                entry_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Queue a new alert durably (fsync'd) and return its entry; a newer alert with the same
        ``key`` replaces a waiting one (a status message only needs its latest version)."""
        entry = {
            "id": entry_id or uuid.uuid4().hex, "created_at": self.clock.now().isoformat(), "url": webhook.url,
            "service": webhook.service, "source": webhook.source, "method": method, "suffix": suffix,
            "params": params or {}, "payload": payload, "attempts": 0, "last_error": "", "key": key,
        }  # fmt: skip
        self._event({"op": "add", "entry": entry})
        return entry

    def record(self, entry: dict[str, Any], status: str, attempts: int, detail: str,
               http_status: int | None = None) -> None:  # fmt: skip
        """The outcome of an attempt sequence: delivered (leaves), permanent (dead letter), else kept."""
        total = entry.get("attempts", 0) + attempts
        if status == "delivered":
            self._event({"op": "done", "id": entry["id"]})
        elif status == "failed-permanently":
            dead = {**entry, "attempts": total, "last_error": detail, "http_status": http_status,
                    "dead_at": self.clock.now().isoformat()}  # fmt: skip
            self._event({"op": "done", "id": entry["id"], "dead": dead})
        else:
            self._event({"op": "attempt", "id": entry["id"], "attempts": total, "last_error": detail})

    # ---- reading -------------------------------------------------------------------------------
    def _main(self) -> tuple[list[dict[str, Any]], list[bytes]]:
        data = _regular_bytes(self.path) or b""
        good, bad = [], []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                entry = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                entry = None
            (good.append(entry) if valid_entry(entry) else bad.append(line))
        return good, bad

    def _events(self) -> list[tuple[Path, dict[str, Any] | None, bytes]]:
        out: list[tuple[Path, dict[str, Any] | None, bytes]] = []
        for path in sorted(self.spool.glob("[!.]*.json")):
            try:
                raw = _regular_bytes(path)
            except OutboxError:
                raw = b""
            if raw is None:
                continue  # folded and removed by another process just now
            try:
                event = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                event = None
            ok = isinstance(event, dict) and (
                (event.get("op") == "add" and valid_entry(event.get("entry")))
                or (event.get("op") in ("done", "attempt") and isinstance(event.get("id"), str))
            )
            out.append((path, event if ok else None, raw))
        return out

    @staticmethod
    def _fold(main: list[dict[str, Any]], events: list[tuple[Path, dict[str, Any] | None, bytes]]
              ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
        # Order-independent where it matters: an outcome wins over its add whatever the file names
        # say (a wall clock set back must not bring a delivered alert back).
        ok = [event for _, event, _ in events if event is not None]
        done = {event["id"]: event for event in ok if event["op"] == "done"}
        state = {e["id"]: e for e in main}
        finished: set[str] = set()
        for event in ok:
            entry = event.get("entry") if event["op"] == "add" else None
            if entry is None or entry["id"] in state:
                continue
            if entry["id"] in done:
                finished.add(entry["id"])
                continue
            if entry.get("key"):
                for old in [k for k, e in state.items() if e.get("key") == entry["key"]]:
                    del state[old]
            state[entry["id"]] = entry
        for event in ok:
            current = state.get(event["id"]) if event["op"] == "attempt" else None
            count = event.get("attempts")
            if current is not None and isinstance(count, int) and count >= current["attempts"]:
                state[event["id"]] = {
                    **current,
                    "attempts": count,
                    "last_error": str(event.get("last_error", "")),
                }
        dead: list[dict[str, Any]] = []
        for entry_id, event in done.items():
            known = state.pop(entry_id, None) is not None or entry_id in finished
            if known and isinstance(event.get("dead"), dict):
                dead.append(event["dead"])
        return state, dead

    def pending(self) -> list[dict[str, Any]]:
        """Alerts waiting, oldest first (the queue plus the spool; no lock needed).

        The spool is read *before* the queue: a merge by another process in between then shows up in
        the queue we read next. The other order could see the old queue and miss the outcome that
        merge folded and removed, and list an alert already delivered (a duplicate send).
        """
        events = self._events()
        try:
            main, _ = self._main()
        except OutboxError as exc:
            self.warn(str(exc))
            main = []
        state, _ = self._fold(main, events)
        return sorted(state.values(), key=lambda e: (e["created_at"], e["id"]))

    entries = pending

    # ---- folding the spool into the queue (short lock) -----------------------------------------
    def merge(self) -> bool:
        """Fold the spool into the queue, dead letters into the dead file, bad lines into quarantine.
        False (nothing changed, nothing lost) when the lock is busy or the queue file is unusable."""
        from filelock import Timeout

        try:
            with self._lock:
                self._merge_locked()
        except Timeout:
            return False
        except OutboxError as exc:
            self.warn(str(exc))
            return False
        except OSError as exc:  # the lock is a folder, the dead-letter file cannot be replaced, ...
            where = exc.filename or self.dir
            self.warn(_("{path}: cannot update the outbox ({reason}); alerts stay queued in {folder}").format(
                path=where, reason=exc.strerror or exc, folder=self.spool))  # fmt: skip
            return False
        return True

    def _merge_locked(self) -> None:
        main, bad = self._main()
        events = self._events()
        state, dead = self._fold(main, events)
        bad += [raw for _, event, raw in events if event is None]
        if dead:
            old = _regular_bytes(self.dead_path) or b""
            seen = {e.get("id") for e in (_loads(x) for x in old.split(b"\n")) if isinstance(e, dict)}
            fresh = [d for d in dead if d.get("id") not in seen]
            lines = b"".join(json.dumps(d, ensure_ascii=False).encode() + b"\n" for d in fresh)
            atomic_write_bytes(self.dead_path, _ended(old) + lines, mode=0o600)
        if bad:
            old = _regular_bytes(self.quarantine_path) or b""
            atomic_write_bytes(
                self.quarantine_path, _ended(old) + b"".join(x + b"\n" for x in bad), mode=0o600
            )
            self.warn(
                _("{n} unreadable outbox line(s) moved to {path}").format(
                    n=len(bad), path=self.quarantine_path
                )
            )
        if events or bad or self.path.exists():
            ordered = sorted(state.values(), key=lambda e: (e["created_at"], e["id"]))
            text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in ordered)
            atomic_write_bytes(self.path, text.encode("utf-8"), mode=0o600)
        for path, _event, _entry in events:  # in order: an add goes before its outcome
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        cutoff = self.clock.now().timestamp() - 3600
        for tmp in self.spool.glob(".*.tmp"):  # left by a writer killed mid-write (never an event)
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()

    def read_only(self) -> bool:
        """True when outcomes cannot be recorded here for good (a read-only or forbidden folder; a
        full disk is not read-only: space comes back)."""
        import errno

        probe = self.spool / f".probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except OSError as exc:
            return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
        with contextlib.suppress(OSError):
            probe.unlink()
        return False

    # ---- claims: one sender per alert ----------------------------------------------------------
    @contextlib.contextmanager
    def claim(self, entry_id: str) -> Iterator[bool]:
        """Hold ``entry_id``'s claim while sending it; yields False when another process holds it."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.claims / f"{entry_id}.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            yield False
            return
        except (
            OSError
        ) as exc:  # a read-only or full folder: a claim that cannot be written never blocks a send
            self.warn(_("{folder}: cannot write a send claim ({reason}); sending without one").format(
                folder=self.claims, reason=exc.strerror or exc))  # fmt: skip
            yield True
            return
        try:
            yield True
        finally:
            lock.release()

    def drop_claim_file(self, entry_id: str) -> None:
        with contextlib.suppress(OSError):
            (self.claims / f"{entry_id}.lock").unlink()


def _loads(line: bytes) -> Any:
    try:
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _ended(data: bytes) -> bytes:
    return data if not data or data.endswith(b"\n") else data + b"\n"
