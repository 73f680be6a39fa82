"""The user's notes and tags on sessions: ``<artifacts>/.ztb/notes.json``, ztbkit's own small file.

Policy (users depend on it):

* The file lives beside the bot's session folders, never inside one: ``.ztb`` starts with a dot, so
  it is not a session, and the bot's files are never written.
* Shape: ``{"version": 1, "sessions": {"<id>": {"tags": ["candidate"], "notes": [{"at": "<ISO
  8601>", "text": "..."}]}}}``. Unknown keys are kept when the file is rewritten.
* Writes are atomic and serialised by a lock file beside it (``notes.json.lock``): two ``ztb note``
  commands at once both keep their note.
* ``live`` marks the run whose model trades now, so at most one session has it: tagging another
  session ``live`` moves the tag (the reply says from where).
* Tags are one word: lower-case letters, digits, ``-`` and ``_``, at most 32 characters.
* A notes file that cannot be read is reported and treated as empty by readers; writers refuse to
  overwrite it (exit 2 naming the file) so nothing is lost.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ztbkit.core.errors import InputFileError, Reason, UsageError
from ztbkit.core.fsio import atomic_write_json
from ztbkit.core.jsonread import Problem, read_json_if_exists

STORE_DIR = ".ztb"
NOTES_FILE = "notes.json"
LIVE = "live"
#: The tags the CLI suggests; any tag of the allowed form is accepted.
KNOWN_TAGS = ("live", "candidate", "discard", "baseline")
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_NOTE_CHARS = 2000


def notes_path(root: str | os.PathLike[str]) -> Path:
    return Path(root) / STORE_DIR / NOTES_FILE


@dataclass(slots=True)
class Annotations:
    """Everything in one notes file: ``{session id: {"tags": [...], "notes": [...]}}``."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    problem: Problem | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def tags(self, session_id: str) -> tuple[str, ...]:
        entry = self.sessions.get(session_id, {})
        return tuple(t for t in entry.get("tags", []) if isinstance(t, str))

    def notes(self, session_id: str) -> tuple[str, ...]:
        entry = self.sessions.get(session_id, {})
        out = []
        for n in entry.get("notes", []):
            if isinstance(n, dict) and isinstance(n.get("text"), str):
                out.append(n["text"])
        return tuple(out)

    def live(self) -> str | None:
        return next((sid for sid in self.sessions if LIVE in self.tags(sid)), None)


def read_annotations(root: str | os.PathLike[str]) -> Annotations:
    """The notes file under ``root`` (empty when there is none; a bad one is reported, not raised)."""
    if "://" in os.fspath(root):
        return Annotations()  # a tree on object storage: notes are kept where the tree is local
    path = notes_path(root)
    read = read_json_if_exists(path)
    if read is None:
        return Annotations()
    if read.problem is not None:
        return Annotations(problem=read.problem)
    doc = read.value
    if not isinstance(doc, dict) or not isinstance(doc.get("sessions", {}), dict):
        return Annotations(
            problem=Problem(str(path), Reason('expected {"sessions": {...}}; notes and tags ignored'))
        )
    sessions = {str(k): v for k, v in doc.get("sessions", {}).items() if isinstance(v, dict)}
    extra = {k: v for k, v in doc.items() if k not in ("version", "sessions")}
    return Annotations(sessions=sessions, extra=extra)


def annotate(sessions: Iterable[Any], root: str | os.PathLike[str]) -> Problem | None:
    """Set ``tags`` and ``notes`` on each session from the notes file; the file's problem, if any."""
    notes = read_annotations(root)
    for s in sessions:
        s.tags, s.notes = notes.tags(s.session_id), notes.notes(s.session_id)
    return notes.problem


def check_tag(tag: str) -> str:
    t = tag.strip().lower()
    if not _TAG.match(t):
        raise UsageError(
            "TAG {tag}: a tag is one word of letters, digits, - or _ (at most 32), e.g. {examples}",
            tag=repr(tag),
            examples=", ".join(KNOWN_TAGS),
        )
    return t


def _update(root: str | os.PathLike[str], change: Any) -> Any:
    """Run ``change(sessions)`` on the file's sessions under the lock, then write it atomically."""
    from filelock import FileLock

    path = notes_path(root)
    path.parent.mkdir(exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=60):
        current = read_annotations(root)
        if current.problem is not None:
            raise InputFileError("{path}: {reason}; fix or move it first (it is not overwritten)",
                                 path=current.problem.path, reason=current.problem.reason)  # fmt: skip
        result = change(current.sessions)
        doc = {"version": 1, **current.extra, "sessions": dict(sorted(current.sessions.items()))}
        atomic_write_json(path, doc)
    return result


def add_note(root: str | os.PathLike[str], session_id: str, text: str, at: datetime) -> int:
    """Append a note to a session; the number of notes it now has."""
    text = text.strip()
    if not text:
        raise UsageError("TEXT: the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise UsageError("TEXT: the note is longer than {n} characters", n=MAX_NOTE_CHARS)

    def change(sessions: dict[str, dict[str, Any]]) -> int:
        entry = sessions.setdefault(session_id, {})
        notes = entry.setdefault("notes", [])
        notes.append({"at": at.isoformat(timespec="seconds"), "text": text})
        return len(notes)

    count: int = _update(root, change)
    return count


def set_tag(root: str | os.PathLike[str], session_id: str, tag: str, *, remove: bool = False) -> str | None:
    """Add (or remove) a tag; for ``live``, the session it was moved from (None if none)."""
    tag = check_tag(tag)

    def change(sessions: dict[str, dict[str, Any]]) -> str | None:
        moved_from = None
        if tag == LIVE and not remove:
            for sid, entry in sessions.items():
                tags = entry.get("tags", [])
                if sid != session_id and isinstance(tags, list) and LIVE in tags:
                    entry["tags"] = [t for t in tags if t != LIVE]
                    moved_from = sid
        entry = sessions.setdefault(session_id, {})
        tags = [t for t in entry.get("tags", []) if isinstance(t, str)]
        if remove:
            tags = [t for t in tags if t != tag]
        elif tag not in tags:
            tags.append(tag)
        entry["tags"] = tags
        return moved_from

    moved: str | None = _update(root, change)
    return moved
