"""Many atomic writes sharing their flushes: the first night prices 10,000 runs and writes 10,000 cost files.

Policy (the same promise as :func:`ztbkit.core.fsio.atomic_write_bytes` with ``durable=True``): each file
is written to a temporary file in its own folder (opened without following a symlink), and only once
the bytes of a whole group are on disk is any of them renamed into place; after the renames the disk
is flushed again. A run killed or a power cut at any moment leaves each file old or new, never half
of one. What changes is the cost: one ``sync`` per group of :data:`GROUP` files instead of two
``fsync`` calls per file (measured on ext4: 24 s of fsync for 10,000 files on a first night).

On Windows, which has no ``sync`` and no ``openat``, each file is written with
:func:`~ztbkit.core.fsio.atomic_write_bytes` as before.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from ztbkit.core import fsio
from ztbkit.core.errors import OutputPathError, os_reason

#: Files written per flush; bounded so that open folders and temporary files stay few.
GROUP = 256


Errors = dict[int, OutputPathError]


def atomic_write_many(items: Iterable[tuple[str | os.PathLike[str], bytes]]) -> Errors:
    """Write every (path, bytes) atomically and durably. Returns the files not written: their position
    in ``items`` → the error naming the path (the others are written all the same)."""
    errors: Errors = {}
    if not (fsio._AT_SUPPORTED and hasattr(os, "sync")):
        for k, (path, data) in enumerate(items):
            try:
                fsio.atomic_write_bytes(path, data)
            except OutputPathError as exc:
                errors[k] = exc
        return errors
    group: list[tuple[int, str | os.PathLike[str], bytes]] = []
    for k, (path, data) in enumerate(items):
        group.append((k, path, data))
        if len(group) >= GROUP:
            errors.update(_write_group(group))
            group = []
    if group:
        errors.update(_write_group(group))
    return errors


def _write_group(group: list[tuple[int, str | os.PathLike[str], bytes]]) -> Errors:
    errors: Errors = {}
    staged: list[tuple[int, str, Path, int]] = []  # (open folder, temporary name, target, position)
    renamed: set[int] = set()
    try:
        for pos, path, data in group:
            try:
                target = fsio.prepare_output(path)
                dir_fd = fsio.open_folder_nofollow(target.parent, shown=target)
            except OutputPathError as exc:
                errors[pos] = exc
                continue
            try:
                fd, tmp = fsio._create_temp(dir_fd, target.name)
            except OSError as exc:
                os.close(dir_fd)
                errors[pos] = OutputPathError(
                    "{path}: cannot write: {reason}", path=target, reason=os_reason(exc)
                )
                continue
            staged.append((dir_fd, tmp, target, pos))
            try:
                fsio._fill(fd, data, durable=False)
                os.chmod(tmp, fsio._NEW_FILE_MODE, dir_fd=dir_fd)
            except OSError as exc:
                staged.pop()
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
                os.close(dir_fd)
                errors[pos] = OutputPathError(
                    "{path}: cannot write: {reason}", path=target, reason=os_reason(exc)
                )
        os.sync()  # every temporary file's bytes on disk before any of them takes a real name
        for k, (dir_fd, tmp, target, pos) in enumerate(staged):
            try:
                fsio.replace_retrying(tmp, target.name, dir_fd=dir_fd, shown=target)
                renamed.add(k)
            except OSError as exc:
                errors[pos] = OutputPathError(
                    "{path}: cannot write: {reason}", path=target, reason=os_reason(exc)
                )
        os.sync()  # the renames themselves
        for k in renamed:
            fsio.remove_stale_temps(staged[k][0])
    finally:
        for k, (dir_fd, tmp, _target, _pos) in enumerate(staged):
            if k not in renamed:  # its rename failed, or we were stopped midway
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
            os.close(dir_fd)
    return errors
