"""File writes: the only place ztbkit writes files.

Writes are atomic: the bytes go to a temporary file in the target's own folder, are flushed (and by
default fsync'd), then ``os.replace`` puts them in place; on POSIX the folder is then fsync'd too, so
the rename itself survives a power cut. A run killed at any moment leaves either
the old file or the new one, never half of one. New files get the usual ``0666 & ~umask`` mode, not
the private mode of the temporary file. Reading is :mod:`ztbkit.core.jsonread`.

Writes cannot be redirected (POSIX): the target's folder is opened once with ``O_DIRECTORY |
O_NOFOLLOW`` and the temporary file is created, fsync'd, renamed into place and the folder fsync'd
relative to that open folder (``openat``/``renameat``). Swapping the folder for a symlink after a
caller checked it therefore cannot carry the write elsewhere: a folder that is a symlink when the
write opens it is refused (:class:`~ztbkit.core.errors.OutputPathError`, exit 2, naming it); folders
further up the path may be links. Windows has no ``openat``: there the path is used as given, so a
folder swapped for a junction between the check and the rename is the one documented window.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path
from typing import Any

from ztbkit.core.clock import SYSTEM_CLOCK, Clock
from ztbkit.core.errors import N_, OutputPathError, os_reason
from ztbkit.core.jsonread import LONE_SURROGATE


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_current_umask()

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
    dir_fd: int | None = None,
    shown: str | os.PathLike[str] | None = None,
) -> None:
    """``os.replace(src, dst)``, retried briefly while Windows reports the target as in use.

    Only a ``PermissionError`` carrying Windows error 5, 32 or 33 is retried (a POSIX permission
    error is final at once). When every attempt fails, the last error is raised naming ``dst`` and
    saying how long it waited; the caller still owns ``src`` (atomic writes delete it). With
    ``dir_fd``, both names are relative to that open folder (``renameat``); ``shown`` is the path
    an error names.
    """
    for attempt in range(len(delays) + 1):
        try:
            if dir_fd is None:
                os.replace(src, dst)
            else:
                os.replace(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
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
                    os.fspath(shown if shown is not None else dst),
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
    opened. Any failure to write is an :class:`~ztbkit.core.errors.OutputPathError` (exit 2) naming the
    path. Temporary files (``.NAME.xxxxxxxx.tmp``) that a killed write left in the same folder more
    than an hour ago are removed.
    """
    target = prepare_output(path)
    if _AT_SUPPORTED:
        _write_at(target, data, durable=durable, mode=_NEW_FILE_MODE if mode is None else mode)
        return target
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputPathError("{path}: cannot write: {reason}", path=target, reason=os_reason(exc)) from None
    try:
        _fill(fd, data, durable)
        os.chmod(tmp, _NEW_FILE_MODE if mode is None else mode)
        replace_retrying(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, OutputPathError):
            raise OutputPathError(
                "{path}: cannot write: {reason}", path=target, reason=os_reason(exc)
            ) from None
        raise
    if durable:
        _fsync_folder(target.parent)
    remove_stale_temps(target.parent)
    return target


#: openat/renameat are there (POSIX): writes go relative to the folder opened without following it.
_AT_SUPPORTED = os.name == "posix" and hasattr(os, "O_NOFOLLOW") and os.open in os.supports_dir_fd


def open_folder_nofollow(folder: str | os.PathLike[str], *, shown: str | os.PathLike[str]) -> int:
    """The folder ``folder`` opened as a directory, never through a symlink in its last component.

    ``OutputPathError`` naming ``shown`` when the folder is (now) a symlink or cannot be opened.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(folder, flags)
    except OSError as exc:
        if os.path.islink(folder):  # ELOOP or ENOTDIR depending on the system
            raise OutputPathError(
                "{path}: cannot write: its folder {folder} is a symbolic link (ztbkit writes only into real "
                "folders: give the folder's real path)", path=shown, folder=os.fspath(folder),
            ) from None  # fmt: skip
        raise OutputPathError("{path}: cannot write: {reason}", path=shown, reason=os_reason(exc)) from None


def _fill(fd: int, data: bytes, durable: bool) -> None:
    """The temporary file's bytes, flushed (and fsync'd when ``durable``); the descriptor is closed."""
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        if durable:
            os.fsync(fh.fileno())


def _create_temp(dir_fd: int, name: str) -> tuple[int, str]:
    """A new private ``.NAME.xxxxxxxx.tmp`` in the open folder: (fd, its name)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o600, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(17, "no free temporary file name", name)


def _write_at(target: Path, data: bytes, *, durable: bool, mode: int) -> None:
    """The POSIX write: every step relative to the target's folder, opened once without following it."""
    dir_fd = open_folder_nofollow(target.parent, shown=target)
    try:
        try:
            fd, tmp = _create_temp(dir_fd, target.name)
        except OSError as exc:
            raise OutputPathError(
                "{path}: cannot write: {reason}", path=target, reason=os_reason(exc)
            ) from None
        try:
            _fill(fd, data, durable)
            os.chmod(tmp, mode, dir_fd=dir_fd)
            replace_retrying(tmp, target.name, dir_fd=dir_fd, shown=target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            if isinstance(exc, OSError) and not isinstance(exc, OutputPathError):
                raise OutputPathError(
                    "{path}: cannot write: {reason}", path=target, reason=os_reason(exc)
                ) from None
            raise
        if durable:
            with contextlib.suppress(OSError):  # some network file systems refuse a folder fsync
                os.fsync(dir_fd)
        remove_stale_temps(dir_fd)
    finally:
        os.close(dir_fd)


def prepare_output(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` can take an output file and create its folder; returns it as a Path.

    Raises :class:`~ztbkit.core.errors.OutputPathError` (exit 2) naming the path when it is a folder, a
    FIFO or another non-regular file (never opened), or its folder cannot be created (a file in the
    way, a read-only place such as ``/sys``).
    """
    target = Path(path)
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        raise OutputPathError("{path}: cannot write: {reason}", path=target, reason=os_reason(exc)) from None
    else:
        if not stat.S_ISREG(st.st_mode):
            kind = N_("a folder") if stat.S_ISDIR(st.st_mode) else N_("not a regular file")
            raise OutputPathError("{path}: cannot write: it is {kind}", path=target, kind=kind)
    prepare_output_dir(target.parent, shown=target)
    return target


def prepare_output_dir(
    folder: str | os.PathLike[str], *, shown: str | os.PathLike[str] | None = None
) -> Path:
    """Create the output folder ``folder``; OutputPathError naming it (or ``shown``) when impossible."""
    path = Path(folder)
    try:
        make_folders(path)
    except (FileExistsError, NotADirectoryError):
        raise OutputPathError(
            "{path}: cannot write: a file is in the way of the folder {folder}",
            path=shown or path,
            folder=path,
        ) from None
    except OSError as exc:
        raise OutputPathError(
            "{path}: cannot write: {reason}", path=shown or path, reason=os_reason(exc)
        ) from None
    return path


def make_folders(folder: str | os.PathLike[str], mode: int = 0o777) -> None:
    """``mkdir -p`` (``Path.mkdir(parents=True, exist_ok=True)``) without recursion, for every folder
    ztbkit makes: ``Path.mkdir`` recurses once per missing folder and a path 2,000 folders deep raised
    RecursionError (a traceback). A path deeper than :data:`MAX_OUTPUT_DEPTH` or longer than the
    system takes is an OSError naming it before any folder is made; a file in the way is
    FileExistsError or NotADirectoryError, as from ``Path.mkdir``."""
    path = Path(folder)
    _check_length(path)  # before any folder is made: a path too long must leave nothing behind
    missing = []
    while not os.path.isdir(path) and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            if not os.path.isdir(
                folder
            ):  # a file in the way; a folder made meanwhile by another writer is fine
                raise


#: Output folders deeper than this are refused before any is made: no real layout comes near it, and
#: a path 2,000 folders deep is a mistake or an attack, not a place for a report.
MAX_OUTPUT_DEPTH = 255


def _check_length(path: Path) -> None:
    """OSError naming ``path`` when it is deeper than :data:`MAX_OUTPUT_DEPTH` folders, or (POSIX) longer
    than the system takes, in all (PATH_MAX 4096 bytes) or in one name (NAME_MAX 255 bytes)."""
    full = os.path.abspath(path)
    if len(Path(full).parts) > MAX_OUTPUT_DEPTH:
        raise OSError(errno.ENAMETOOLONG, f"too deep (more than {MAX_OUTPUT_DEPTH} folders)", os.fspath(path))
    if os.name != "posix":
        return  # Windows answers for itself; its limits depend on the long-path setting
    whole = os.fsencode(full)
    if len(whole) >= 4096 or max((len(n) for n in whole.split(b"/")), default=0) > 255:
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), os.fspath(path))


def remove_stale_temps(
    folder: Path | int, *, now: float | None = None, age: float = STALE_TEMP_SECONDS
) -> list[str]:
    """Remove ``.NAME.xxxxxxxx.tmp`` files older than ``age`` seconds in ``folder`` (a path, or a
    folder already open: then removed relative to it); their names."""
    if now is None:
        from ztbkit.core.clock import SYSTEM_CLOCK

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
                    if isinstance(folder, int):
                        os.unlink(entry.name, dir_fd=folder)
                    else:
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
        data = LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")
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
