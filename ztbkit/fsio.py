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
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from ztbkit.clock import SYSTEM_CLOCK, Clock
from ztbkit.errors import InputFileError, OutputPathError

#: JSON files larger than this are reported as too large instead of parsed.
DEFAULT_MAX_JSON_BYTES = 64 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
#: A UTF-16 surrogate standing alone: valid in a JSON ``\uXXXX`` escape and in a Python str, but not
#: in UTF-8 (so not in a written file, nor in a Jupyter message).
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


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
_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_READ_FLAGS = os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0)


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


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a regular file for binary reading without ever blocking on a FIFO or device.

    Raises :class:`~ztbkit.errors.InputFileError` (exit 2) naming the path when it is unreadable,
    a folder, a FIFO or anything else that is not a regular file; FileNotFoundError when missing.
    """
    p = os.fspath(path)
    try:
        fd = os.open(p, _READ_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise InputFileError(f"{p}: is {kind}, expected a file")
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
    them, so the bot does), a byte-order mark, integers beyond 64 bits, deep nesting, a lone
    surrogate escape, bad input — goes through the standard library, which decides and words the
    problem.
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
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # A writer killed mid-write leaves a prefix: the error sits at the end, or in a string never closed.
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "truncated JSON (the file ends early)" if truncated else "invalid JSON"
        return JsonRead(None, Problem(path, f"{what}: {exc.msg} (line {exc.lineno}, column {exc.colno})"))
    except RecursionError:
        return JsonRead(None, Problem(path, "JSON nested too deeply to read"))
    except ValueError as exc:  # Python's int-string limit: an integer of more than 4300 digits
        return JsonRead(None, Problem(path, f"invalid JSON: {_first_line(exc)}"))
    if _SURROGATE_ESCAPE.search(text):  # orjson refuses a lone one; Python's reader keeps it as is
        value = _without_lone_surrogates(value)
    return JsonRead(value)


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
            parent[key] = _LONE_SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            parent[key] = items = [None] * len(item)
            todo.extend((v, items, i) for i, v in enumerate(item))
        elif isinstance(item, dict):
            parent[key] = fields = dict.fromkeys(_LONE_SURROGATE.sub("\ufffd", k) for k in item)  # key order
            todo.extend((v, fields, _LONE_SURROGATE.sub("\ufffd", k)) for k, v in item.items())
        else:
            parent[key] = item
    return root[0]


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


#: Temporary files of a write killed midway, older than this, are removed by the next write there.
STALE_TEMP_SECONDS = 3600.0
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


#: Windows errors meaning "another program has the file open" (access denied, sharing violation,
#: lock violation): Defender, the search indexer or an editor holding the target for a moment.
_SHARING_WINERRORS = frozenset({5, 32, 33})
#: Waits between attempts at ``os.replace``: seven retries, about 1 s in all, then the error stands.
REPLACE_RETRY_DELAYS = (0.02, 0.04, 0.08, 0.12, 0.18, 0.24, 0.32)


def replace_retrying(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    clock: Clock | None = None,
    delays: tuple[float, ...] = REPLACE_RETRY_DELAYS,
) -> None:
    """``os.replace(src, dst)``, retried briefly while Windows reports the target as in use.

    Only a ``PermissionError`` carrying Windows error 5, 32 or 33 is retried (a POSIX permission
    error is final at once). When every attempt fails, the last error is raised naming ``dst`` and
    saying how long it waited; the caller still owns ``src`` (atomic writes delete it).
    """
    for attempt in range(len(delays) + 1):
        try:
            os.replace(src, dst)
            return
        except PermissionError as exc:
            if getattr(exc, "winerror", None) not in _SHARING_WINERRORS:
                raise
            if attempt == len(delays):
                why = exc.strerror or "in use"
                raise PermissionError(
                    exc.errno,
                    f"{why} (still in use after {attempt + 1} tries over {sum(delays):.1f} s: another "
                    "program such as antivirus, the search indexer or an editor has it open)",
                    os.fspath(dst),
                ) from exc
            (clock or SYSTEM_CLOCK).sleep(delays[attempt])


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, durable: bool = True, mode: int | None = None
) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent folders. Returns the path.

    ``durable=False`` skips ``fsync`` (for bulk generators where a crash just means "generate again").
    ``mode`` overrides the file mode (0o600 for files holding credentials). The final rename is
    retried for about a second while Windows says another program has the target open.

    An existing target that is not a regular file (a folder, a FIFO, a device) is refused, never
    opened. Any failure to write is an :class:`~ztbkit.errors.OutputPathError` (exit 2) naming the
    path. Temporary files (``.NAME.xxxxxxxx.tmp``) that a killed write left in the same folder more
    than an hour ago are removed.
    """
    target = prepare_output(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputPathError(f"{target}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, _NEW_FILE_MODE if mode is None else mode)
        replace_retrying(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputPathError):
            raise OutputPathError(f"{target}: cannot write: {exc.strerror or exc}") from None
        raise
    if durable:
        _fsync_folder(target.parent)
    remove_stale_temps(target.parent)
    return target


def prepare_output(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` can take an output file and create its folder; returns it as a Path.

    Raises :class:`~ztbkit.errors.OutputPathError` (exit 2) naming the path when it is a folder, a
    FIFO or another non-regular file (never opened), or its folder cannot be created (a file in the
    way, a read-only place such as ``/sys``).
    """
    target = Path(path)
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        raise OutputPathError(f"{target}: cannot write: {exc.strerror or exc}") from None
    else:
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise OutputPathError(f"{target}: cannot write: it is {kind}")
    prepare_output_dir(target.parent, shown=target)
    return target


def prepare_output_dir(
    folder: str | os.PathLike[str], *, shown: str | os.PathLike[str] | None = None
) -> Path:
    """Create the output folder ``folder``; OutputPathError naming it (or ``shown``) when impossible."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputPathError(
            f"{shown or path}: cannot write: a file is in the way of the folder {path}"
        ) from None
    except OSError as exc:
        raise OutputPathError(f"{shown or path}: cannot write: {exc.strerror or exc}") from None
    return path


def remove_stale_temps(
    folder: Path, *, now: float | None = None, age: float = STALE_TEMP_SECONDS
) -> list[str]:
    """Remove ``.NAME.xxxxxxxx.tmp`` files older than ``age`` seconds in ``folder``; their names."""
    if now is None:
        from ztbkit.clock import SYSTEM_CLOCK

        now = SYSTEM_CLOCK.now().timestamp()
    removed = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if not _TEMP_NAME.match(entry.name):
                continue
            with contextlib.suppress(OSError):
                if (
                    entry.is_file(follow_symlinks=False)
                    and now - entry.stat(follow_symlinks=False).st_mtime > age
                ):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename just made) to disk: POSIX only; best effort.

    Windows cannot open a folder for fsync; some file systems (network shares) refuse it.
    """
    with contextlib.suppress(OSError):
        fsync_dir(folder)


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, durable: bool = True, mode: int | None = None
) -> Path:
    """Write UTF-8 text atomically; ``\\n`` stays ``\\n`` on every platform.

    Lone surrogates, which UTF-8 cannot hold, are written as U+FFFD replacement characters, never
    refused: the undecodable bytes of a non-UTF-8 folder name, or any other source of one (the JSON
    reader already mends a ``"\\ud800"`` escape the same way).
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")
    return atomic_write_bytes(path, data, durable=durable, mode=mode)


def atomic_write_json(
    path: str | os.PathLike[str], value: Any, *, indent: int | None = 2, durable: bool = True
) -> Path:
    """Write ``value`` as JSON atomically (UTF-8, non-ASCII kept readable, trailing newline)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n", durable=durable)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in folder ``path`` survive a power loss (POSIX; a no-op on Windows,
    where a folder cannot be opened for fsync)."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
