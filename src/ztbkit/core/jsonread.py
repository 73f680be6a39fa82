"""Tolerant reading of the bot's files: regular files only, bounded size, JSON that never raises.

Reading never raises for bad content: :func:`read_json` returns a :class:`JsonRead` holding the value
or a :class:`Problem` (file + reason), so a loop over thousands of sessions reports a broken file and
goes on with the next one. A lone UTF-16 surrogate escape reads as U+FFFD.

Duplicate keys in one object (``{"dsr": 0.9, "dsr": 0.1}``) are valid JSON and both readers keep the
last value silently; :attr:`JsonRead.duplicates` names them so the caller can warn. The check is
cheap: the ``":`` separators in the bytes are counted against those orjson writes back for the value
it read (C speed); only when the file has more does the standard library parse it again to name the
keys. (A key written as ``"k"`` then a line break before the colon is not counted: such a duplicate
goes unnoticed.)
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from ztbkit.core.errors import N_, InputFileError, Reason, Text, os_reason, shown

#: JSON files larger than this are reported as too large instead of parsed.
DEFAULT_MAX_JSON_BYTES = 64 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
#: A UTF-16 surrogate standing alone: valid in a JSON ``\uXXXX`` escape and in a Python str, but not
#: in UTF-8 (so not in a written file, nor in a Jupyter message).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
#: Why the standard library's JSON reader stopped, in its words: the catalogue translates these.
JSON_REASONS = (
    N_("Expecting value"), N_("Expecting property name enclosed in double quotes"),
    N_("Expecting ',' delimiter"), N_("Expecting ':' delimiter"), N_("Unterminated string starting at"),
    N_("Invalid control character at"), N_("Invalid \\escape"), N_("Invalid \\uXXXX escape"), N_("Extra data"),
    N_("Illegal trailing comma before end of object"), N_("Illegal trailing comma before end of array"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one file: where, and why, in words a user can act on."""

    path: str
    #: English; a :class:`~ztbkit.core.errors.Reason` is said in the reader's language by ``str()``.
    reason: str

    def __post_init__(self) -> None:
        reason: Any = self.reason
        if not isinstance(reason, str):  # a reason as the load cache keeps it (Reason.to_json)
            object.__setattr__(self, "reason", Reason.from_json(reason))

    def __str__(self) -> str:
        return f"{self.path}: {shown(self.reason)}"

    def to_json(self) -> list[Any]:
        """``[path, reason]`` as JSON; ``Problem(*it)`` is this problem again, its reason still said in
        the reader's language (a :class:`~ztbkit.core.errors.Reason` is kept as its template and values)."""
        reason = self.reason
        return [self.path, reason.to_json() if isinstance(reason, Reason) else reason]


@dataclass(slots=True)  # not frozen: constructed once per file read, and frozen __init__ is slow
class JsonRead:
    """Result of :func:`read_json`: ``value`` when ``problem`` is None."""

    value: Any
    problem: Problem | None = None
    #: Keys that appear more than once in one object (the last value is the one in ``value``).
    duplicates: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem is None


# O_NONBLOCK: opening a FIFO that sits where a JSON file belongs returns at once instead of
# blocking the whole nightly run; fstat then rejects it. O_BINARY matters on Windows only.
_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_READ_FLAGS = os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0)


def _size(n: int) -> Reason:
    if n >= 2**20:
        return Reason("{n} MB", n=format(n / 2**20, ".1f"))
    return Reason("{n} bytes", n=format(n, ","))


def _read_regular(path: str, max_bytes: int) -> bytes | Problem | None:
    """The bytes of a regular file; a Problem when unusable; None when it does not exist."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Problem(path, Reason("cannot read: {reason}", reason=os_reason(exc)))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = N_("a folder") if stat.S_ISDIR(st.st_mode) else N_("not a regular file")
            return Problem(path, Reason("is {kind}, expected a file", kind=kind))
        if st.st_size > max_bytes:
            return Problem(path, Reason("file is {size}, over the {limit} limit", size=_size(st.st_size),
                                        limit=_size(max_bytes)))  # fmt: skip
        # One read of size+1 bytes is the usual whole story. Anything else (a short read, as network
        # shares give, or a file that grew meanwhile) reads on to the end, within the size limit.
        data = os.read(fd, st.st_size + 1)
        if len(data) == st.st_size:
            return data
        chunks, total = [data], len(data)
        while total <= max_bytes and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            return Problem(
                path, Reason("file grew past the {limit} limit while being read", limit=_size(max_bytes))
            )
        return b"".join(chunks)
    except OSError as exc:
        return Problem(path, Reason("cannot read: {reason}", reason=os_reason(exc)))
    finally:
        os.close(fd)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading without ever blocking on a FIFO or device.

    Raises :class:`~ztbkit.core.errors.InputFileError` (exit 2) naming the path when it is unreadable,
    a folder, a FIFO or anything else that is not a regular file; FileNotFoundError when missing.
    """
    p = os.fspath(path)
    try:
        fd = os.open(p, _READ_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputFileError("{path}: cannot read: {reason}", path=p, reason=os_reason(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = N_("a folder") if stat.S_ISDIR(st.st_mode) else N_("not a regular file")
            raise InputFileError("{path}: is {kind}, expected a file", path=p, kind=kind)
        if _NONBLOCK:
            import fcntl  # POSIX only, like O_NONBLOCK itself

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def is_regular_file(path: str | os.PathLike[str]) -> bool:
    """True for a regular file (after symlinks); False for FIFOs, folders, devices, missing paths."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_json(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_JSON_BYTES) -> JsonRead:
    """Read a JSON file, returning a :class:`JsonRead` instead of raising on bad content.

    Handled as problems: a missing or unreadable file, a folder or FIFO where a file belongs (it
    cannot block), a file over ``max_bytes``, invalid UTF-8, invalid or truncated JSON, and JSON
    nested too deeply to parse. A UTF-8 byte-order mark (Windows editors write one) is accepted.
    ``NaN``/``Infinity`` literals parse to floats; callers validate values. A ``\\uXXXX`` escape of
    half a UTF-16 pair, alone, reads as U+FFFD (the lone surrogate could not be written or shown).
    """
    result = read_json_if_exists(path, max_bytes=max_bytes)
    return (
        result if result is not None else JsonRead(None, Problem(os.fspath(path), Reason("file not found")))
    )


def read_json_if_exists(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_JSON_BYTES
) -> JsonRead | None:
    """Like :func:`read_json`, but None when the file does not exist (for optional files)."""
    p = os.fspath(path)
    data = _read_regular(p, max_bytes)
    if data is None:
        return None
    if isinstance(data, Problem):
        return JsonRead(None, data)
    return parse_json_bytes(data, p)


def parse_json_bytes(data: bytes, path: str) -> JsonRead:
    """Parse JSON bytes read from ``path`` (used in messages) into a :class:`JsonRead`.

    Fast path: orjson. Anything it refuses — NaN/Infinity literals (Python's ``json.dumps`` writes
    them, so the bot does), a byte-order mark, integers beyond 64 bits, deep nesting, a lone
    surrogate escape, bad input — goes through the standard library, which decides and words the
    problem.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _parse_json_stdlib(data, path)
    if isinstance(value, dict | list) and _more_separators(data, value):
        return JsonRead(value, duplicates=_duplicate_keys(data))
    return JsonRead(value)


def _more_separators(data: bytes, value: Any) -> bool:
    """The bytes hold more ``":`` than orjson writes for ``value``: some key was read twice."""
    seen = data.count(b'":') + data.count(b'" :')
    if isinstance(value, dict) and seen <= len(value):  # a flat object: every separator is one of its keys
        return False
    try:
        written = orjson.dumps(value).count(b'":')
    except (TypeError, orjson.JSONEncodeError):
        return False
    return seen > written


def _recording(found: dict[str, None]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """An ``object_pairs_hook`` building each object as ``json`` does (the last value of a key wins)
    and recording in ``found`` every key seen twice in one object."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) < len(items):
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    found[LONE_SURROGATE.sub("\ufffd", key)] = None
                seen.add(key)
        return obj

    return pairs


def _duplicate_keys(data: bytes) -> tuple[str, ...]:
    """The keys that appear twice in one object, by the standard library's reader (innermost first)."""
    found: dict[str, None] = {}
    try:
        json.loads(data.decode("utf-8-sig"), object_pairs_hook=_recording(found))
    except (ValueError, RecursionError):
        return ()
    return tuple(found)


def _parse_json_stdlib(data: bytes, path: str) -> JsonRead:
    if data.startswith(_BOM):
        data = data[3:]
    if not data or data.isspace():
        return JsonRead(None, Problem(path, Reason("file is empty")))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return JsonRead(
            None, Problem(path, Reason("not UTF-8 text (bad byte at offset {offset})", offset=exc.start))
        )
    duplicates: dict[str, None] = {}
    try:
        value = json.loads(text, object_pairs_hook=_recording(duplicates))
    except json.JSONDecodeError as exc:
        # A writer killed mid-write leaves a prefix: the error sits at the end, or in a string never closed.
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        where = {"why": Text(exc.msg), "line": exc.lineno, "column": exc.colno}  # the why: JSON_REASONS
        if truncated:
            reason = Reason(
                "truncated JSON (the file ends early): {why} (line {line}, column {column})", **where
            )
        else:
            reason = Reason("invalid JSON: {why} (line {line}, column {column})", **where)
        return JsonRead(None, Problem(path, reason))
    except RecursionError:
        return JsonRead(None, Problem(path, Reason("JSON nested too deeply to read")))
    except ValueError as exc:  # Python's int-string limit: an integer of more than 4300 digits
        return JsonRead(None, Problem(path, Reason("invalid JSON: {why}", why=_first_line(exc))))
    if _SURROGATE_ESCAPE.search(text):  # orjson refuses a lone one; Python's reader keeps it as is
        value = _without_lone_surrogates(value)
    return JsonRead(value, duplicates=tuple(duplicates))


def _without_lone_surrogates(value: Any) -> Any:
    """``value`` with each lone surrogate in its strings (keys too) replaced by U+FFFD.

    A ``"\\ud800"`` escape with no pair is valid JSON, but the str Python makes of it can be neither
    written as UTF-8 nor shown in a notebook; the reader mends it once, here. Iterative: JSON nested
    as deeply as Python's reader accepts must not exhaust the stack here either.
    """
    root: list[Any] = [None]
    todo: list[tuple[Any, Any, Any]] = [(value, root, 0)]  # (value, container of its copy, key there)
    while todo:
        item, parent, key = todo.pop()
        if isinstance(item, str):
            parent[key] = LONE_SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            parent[key] = items = [None] * len(item)
            todo.extend((v, items, i) for i, v in enumerate(item))
        elif isinstance(item, dict):
            parent[key] = fields = dict.fromkeys(LONE_SURROGATE.sub("\ufffd", k) for k in item)  # key order
            todo.extend((v, fields, LONE_SURROGATE.sub("\ufffd", k)) for k, v in item.items())
        else:
            parent[key] = item
    return root[0]


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
