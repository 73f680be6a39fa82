"""File I/O policy: the only place ztbkit writes files, and its tolerant JSON reader.

Writes are atomic: the bytes go to a temporary file in the target's own folder, are flushed (and by
default fsync'd), then ``os.replace`` puts them in place; on POSIX the folder is then fsync'd too, so
the rename itself survives a power cut. A run killed at any moment leaves either
the old file or the new one, never half of one. New files get the usual ``0666 & ~umask`` mode, not
the private mode of the temporary file.

Reading never raises for bad content: :func:`read_json` returns a :class:`JsonRead` holding the value
or a :class:`Problem` (file + reason), so a loop over thousands of sessions reports a broken file and
goes on with the next one.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

#: JSON files larger than this are reported as too large instead of parsed.
DEFAULT_MAX_JSON_BYTES = 64 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_current_umask()


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with one file: where, and why, in words a user can act on."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(slots=True)  # not frozen: constructed once per file read, and frozen __init__ is slow
class JsonRead:
    """Result of :func:`read_json`: ``value`` when ``problem`` is None."""

    value: Any
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


# O_NONBLOCK: opening a FIFO that sits where a JSON file belongs returns at once instead of
# blocking the whole nightly run; fstat then rejects it. O_BINARY matters on Windows only.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n:,} bytes"


def _read_regular(path: str, max_bytes: int) -> bytes | Problem | None:
    """The bytes of a regular file; a Problem when unusable; None when it does not exist."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Problem(path, f"cannot read: {exc.strerror or exc}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            return Problem(path, f"is {kind}, expected a file")
        if st.st_size > max_bytes:
            return Problem(path, f"file is {_size(st.st_size)}, over the {_size(max_bytes)} limit")
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
            return Problem(path, f"file grew past the {_size(max_bytes)} limit while being read")
        return b"".join(chunks)
    except OSError as exc:
        return Problem(path, f"cannot read: {exc.strerror or exc}")
    finally:
        os.close(fd)


def read_json(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_JSON_BYTES) -> JsonRead:
    """Read a JSON file, returning a :class:`JsonRead` instead of raising on bad content.

    Handled as problems: a missing or unreadable file, a folder or FIFO where a file belongs (it
    cannot block), a file over ``max_bytes``, invalid UTF-8, invalid or truncated JSON, and JSON
    nested too deeply to parse. A UTF-8 byte-order mark (Windows editors write one) is accepted.
    ``NaN``/``Infinity`` literals parse to floats; callers validate values.
    """
    result = read_json_if_exists(path, max_bytes=max_bytes)
    return result if result is not None else JsonRead(None, Problem(os.fspath(path), "file not found"))


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
    them, so the bot does), a byte-order mark, integers beyond 64 bits, deep nesting, bad input —
    goes through the standard library, which decides and words the problem.
    """
    try:
        return JsonRead(orjson.loads(data))
    except orjson.JSONDecodeError:
        return _parse_json_stdlib(data, path)


def _parse_json_stdlib(data: bytes, path: str) -> JsonRead:
    if data.startswith(_BOM):
        data = data[3:]
    if not data or data.isspace():
        return JsonRead(None, Problem(path, "file is empty"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return JsonRead(None, Problem(path, f"not UTF-8 text (bad byte at offset {exc.start})"))
    try:
        return JsonRead(json.loads(text))
    except json.JSONDecodeError as exc:
        # A writer killed mid-write leaves a prefix: the error sits at the end, or in a string never closed.
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "truncated JSON (the file ends early)" if truncated else "invalid JSON"
        return JsonRead(None, Problem(path, f"{what}: {exc.msg} (line {exc.lineno}, column {exc.colno})"))
    except RecursionError:
        return JsonRead(None, Problem(path, "JSON nested too deeply to read"))


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, durable: bool = True, mode: int | None = None
) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent folders. Returns the path.

    ``durable=False`` skips ``fsync`` (for bulk generators where a crash just means "generate again").
    ``mode`` overrides the file mode (0o600 for files holding credentials).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, _NEW_FILE_MODE if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_folder(target.parent)
    return target


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename just made) to disk: POSIX only; best effort.

    Windows cannot open a folder for fsync; some file systems (network shares) refuse it.
    """
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, durable: bool = True, mode: int | None = None
) -> Path:
    """Write UTF-8 text atomically; ``\\n`` stays ``\\n`` on every platform."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable, mode=mode)


def atomic_write_json(
    path: str | os.PathLike[str], value: Any, *, indent: int | None = 2, durable: bool = True
) -> Path:
    """Write ``value`` as JSON atomically (UTF-8, non-ASCII kept readable, trailing newline)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n", durable=durable)
