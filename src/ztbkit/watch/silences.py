"""Silences: ``RULE`` or ``RULE:SUBJECT`` muted until a time, kept in ``<state-dir>/.ztb/watch-silences.json``.

Policy (users depend on it):

* A silenced alert is not sent (neither firing, repeat nor resolved); it still counts as firing in
  ``ztb doctor``, the digest and the DataFrame.
* A silence expires on its own at its end time; ``ztb silence expire ID`` ends it now.
* An alert still firing when its silence ends is sent at the next evaluation.
* Every change is read-modify-write under ``watch-silences.json.lock`` and an atomic replace, so
  two ``ztb silence add`` at once both land. Silences ended more than 7 days ago are dropped.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ztbkit.core.errors import InputFileError, UsageError
from ztbkit.core.fsio import atomic_write_json, make_folders
from ztbkit.core.jsonread import read_json_if_exists
from ztbkit.locale import _
from ztbkit.watch.config import RULES

FILE = "watch-silences.json"
KEEP_ENDED = timedelta(days=7)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(slots=True)
class Silence:
    id: str
    rule: str
    subject: str | None
    starts: str
    ends: str
    comment: str = ""

    def matches(self, rule: str, subject: str, now: datetime) -> bool:
        return (self.rule == rule and (self.subject is None or self.subject == subject)
                and datetime.fromisoformat(self.starts) <= now < datetime.fromisoformat(self.ends))  # fmt: skip

    def active(self, now: datetime) -> bool:
        return now < datetime.fromisoformat(self.ends)

    @property
    def matcher(self) -> str:
        return self.rule if self.subject is None else f"{self.rule}:{self.subject}"


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` → a timedelta (at least 1 s, at most 90 days)."""
    raw = text.strip().lower()
    parts = _DURATION.findall(raw)
    if not raw or "".join(n + u for n, u in parts) != raw:
        raise UsageError("--for: {text} is not a duration (e.g. 30m, 2h, 1d, 1h30m)", text=repr(text))
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not 1 <= seconds <= 90 * 86400:  # under a second it would be over before it is listed
        raise UsageError("--for: {text} must be at least 1s and at most 90 days", text=repr(text))
    return timedelta(seconds=seconds)


def parse_matcher(text: str) -> tuple[str, str | None]:
    rule, _sep, subject = text.partition(":")
    if rule not in RULES or rule == "watchdog":
        known = ", ".join(r for r in RULES if r != "watchdog")
        raise UsageError("RULE: unknown rule {rule} (known: {known})", rule=repr(rule), known=known)
    return rule, (subject or None)


def _load(path: Path) -> list[Silence]:
    read = read_json_if_exists(path)
    if read is None:
        return []
    items = read.value.get("silences") if read.ok and isinstance(read.value, dict) else None
    if not isinstance(items, list):
        raise InputFileError(
            _("{path}: {problem}; fix or remove it").format(
                path=path, problem=read.problem or _("no silences list")
            )
        )
    out = []
    for item in items:
        try:
            s = Silence(**item)
            datetime.fromisoformat(s.starts), datetime.fromisoformat(s.ends)
        except (TypeError, ValueError):
            continue  # a hand-edited entry that is not a silence: ignored, the others still hold
        out.append(s)
    return out


def load_silences(ztb_dir: Path) -> list[Silence]:
    """The silences (expired ones too); an unreadable file is an InputFileError naming it."""
    return _load(ztb_dir / FILE)


@contextlib.contextmanager
def _changing(ztb_dir: Path, now: datetime) -> Iterator[list[Silence]]:
    from filelock import FileLock

    make_folders(ztb_dir)
    path = ztb_dir / FILE
    with FileLock(str(path) + ".lock", timeout=30):
        items = _load(path)
        yield items
        kept = [s for s in items if now - datetime.fromisoformat(s.ends) < KEEP_ENDED]
        atomic_write_json(path, {"version": 1, "silences": [asdict(s) for s in kept]})


def add_silence(ztb_dir: Path, matcher: str, duration: timedelta, comment: str, now: datetime) -> Silence:
    rule, subject = parse_matcher(matcher)
    s = Silence(secrets.token_hex(4), rule, subject, now.isoformat(), (now + duration).isoformat(), comment)
    with _changing(ztb_dir, now) as items:
        items.append(s)
    return s


def expire_silence(ztb_dir: Path, silence_id: str, now: datetime) -> Silence:
    with _changing(ztb_dir, now) as items:
        found = [s for s in items if s.id == silence_id and s.active(now)]
        if not found:
            raise UsageError("ID: no active silence {id} (ztb silence list shows them)", id=repr(silence_id))
        found[0].ends = now.isoformat()
        return found[0]


def silence_for(silences: list[Silence], rule: str, subject: str, now: datetime) -> Silence | None:
    return next((s for s in silences if s.matches(rule, subject, now)), None)


def as_rows(silences: list[Silence], now: datetime) -> list[dict[str, Any]]:
    return [{**asdict(s), "active": s.active(now)} for s in silences]
