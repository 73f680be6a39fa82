"""The one rule for names that become path components: correlation ids and job names.

A correlation id (or a scheduler job name) names a folder or file directly under a root that
ztbkit owns, so it must be exactly one path component on every platform ztbkit supports:
no ``/`` or ``\\``, not ``.`` or ``..``, no NUL or other control character, no ``:`` (a drive or
an NTFS stream on Windows), none of ``<>"|?*`` (forbidden in Windows names), not a Windows device
name (``CON``, ``NUL``, ``COM1`` …, with or without an extension), no trailing dot or space
(Windows strips them), at most 200 characters.
Anything else is refused with :class:`~ztbkit.core.errors.UsageError` (exit 2) naming the flag.

A file ztbkit writes inside a session (``<id>/reports/doctor.txt``, ``cost_estimate.json``) must
also land inside the artifacts folder after symlinks are followed (:func:`check_inside`): a session
folder or ``reports/`` that someone linked elsewhere is refused (OutputPathError, exit 2), so
whoever can plant files in the artifacts folder cannot carry ztbkit's writes out of it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ztbkit.core.errors import N_, OutputPathError, Text, UsageError

MAX_LENGTH = 200
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{n}" for p in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]]
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Bidirectional controls reorder what a terminal shows after them (Trojan Source, CVE-2021-42574).
_SHOWN_ESCAPED = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_repr(value: str) -> str:
    """``value`` fit for one line of a terminal or text report: control characters and bidi
    controls (U+202E and its kin, which reorder the text after them) escaped."""
    return _SHOWN_ESCAPED.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", value
    )


def problem_with_component(value: str) -> Text | None:
    """Why ``value`` is not a safe single path component, or None when it is."""
    if not value:
        return N_("is empty")
    if len(value) > MAX_LENGTH:
        return N_("is longer than 200 characters")  # MAX_LENGTH
    if _CONTROL.search(value):
        return N_("contains a control character")
    if "/" in value or "\\" in value:
        return N_("contains a path separator")
    if value in (".", ".."):
        return N_("is a relative folder reference")
    if ":" in value:
        return N_("contains ':' (a drive or stream name on Windows)")
    if any(c in value for c in '<>"|?*'):
        return N_('contains a character Windows forbids in names (<>"|?*)')
    if value[-1] in ". ":
        return N_("ends with a dot or space (Windows drops them)")
    if value.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        return N_("is a Windows device name")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return N_("is not valid Unicode text")
    return None


def check_component(value: str, flag: str) -> str:
    """Return ``value`` when it is one safe path component; else raise UsageError naming ``flag``."""
    why = problem_with_component(value)
    if why is not None:
        raise UsageError("{flag} {value} {why}: it must be a single name, like 20250929T120000Z", flag=flag,
                         value=repr(safe_repr(value)), why=why)  # fmt: skip
    return value


def check_inside(target: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """Return ``target`` when its folder resolves (after symlinks) inside ``root``; else raise
    OutputPathError (exit 2) naming both. The file itself may be a symlink: writes replace it."""
    folder = Path(os.path.realpath(Path(target).parent))
    base = Path(os.path.realpath(root))
    if folder != base and not folder.is_relative_to(base):
        raise OutputPathError(
            "{target}: cannot write: it resolves to {folder}, outside the artifacts folder {base} (a symlink "
            "points out of it)", target=safe_repr(str(target)), folder=safe_repr(str(folder)), base=safe_repr(str(base)),
        )  # fmt: skip
    return Path(target)
