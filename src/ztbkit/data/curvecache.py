"""Learning-curve series of a TensorBoard folder, kept between nights: only new bytes are read.

Policy (users depend on it):

* **What is kept**, per event file and tag: the tag's points reduced by step — the steps are cut into
  at most ``buckets`` runs of equal width (a power of two, the smallest that fits) and each run keeps
  its first, last, lowest and highest point, the way the curves downsample (every spike and dip
  survives). A file with fewer distinct steps than ``buckets`` keeps every point. NaN and infinite
  values are not kept (the curves do not draw them); a step written twice keeps its last value. Also
  kept: the file's identity (size, ``mtime_ns``, inode, ``ctime_ns``, a CRC32C of its first 4 KiB), the offset
  after its last whole record and the plugin each tag was named with. At most ``4 × buckets`` points
  (16 bytes each) per file and tag, whatever the length of the run.
* **On a later read**: a file with the same size, ``mtime_ns``, inode and ``ctime_ns`` is not opened (the
  change time because an mtime can be put back — ``touch -r``, ``cp -p`` or ``rsync -a`` of an older
  copy over the file — and a change time cannot: such a file is read again). A file that
  grew (same inode, same first 4 KiB) is read from the kept offset only: a record still being
  written at the end stays unread until it is whole. A file that shrank, was replaced (another
  inode) or whose first 4 KiB changed is read again from zero, and so is a grown file whose new
  points go back to a step it already had (training resumed from an earlier checkpoint into the same
  file): a reduced run cannot take a point back. The result equals reading every file from zero.
* **Where**: ``$XDG_CACHE_HOME/ztbkit/curves/`` (default ``~/.cache``), one file per TensorBoard folder,
  tag list and bucket count, beside the scraper's (``tb/``) and the loader's (``load/``) caches;
  ``ZTB_NO_CACHE=1`` turns it off. Written atomically, and only when something changed; deleting it is
  always safe (the next read is a cold one). A cache no read has used for 30 days (a session no
  longer shown) is removed when another is written, so the folder does not grow without end. A cache
  that cannot be read, was written by other code or for another folder is ignored with one
  :class:`CurveCacheWarning` naming it, and rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit.core.errors import Reason, ZtbError, os_reason
from ztbkit.core.fsio import atomic_write_bytes
from ztbkit.core.jsonread import Problem, open_regular
from ztbkit.data.tb_events import masked_crc

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Ints = npt.NDArray[np.int64]
    Floats = npt.NDArray[np.float64]

VERSION = 2  # 2: ctime_ns in the identity
#: A cache no night has read for this many days is removed (its session is no longer shown).
PRUNE_DAYS = 30
HEAD_BYTES = 4096
#: The reader's own code: a cache written by other decoding rules is not reused.
_CODE = ("data/tb_events.py", "data/tb_series.py", "data/curvecache.py")


class CurveCacheWarning(UserWarning):
    """The curve cache could not be used (it is rebuilt) or written (the next read is a cold one)."""


@functools.cache
def fingerprint() -> str:
    h = hashlib.sha256()
    for name in _CODE:
        h.update((Path(__file__).parents[1] / name).read_bytes())
    return h.hexdigest()[:16]


def default_path(folder: str | os.PathLike[str], tags: list[str], buckets: int) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = json.dumps([os.path.realpath(folder), sorted(tags), buckets]).encode()
    return base / "ztbkit" / "curves" / f"{hashlib.sha256(key).hexdigest()[:16]}.npz"


def last_per_step(steps: Ints, values: Floats) -> tuple[Ints, Floats]:
    """Finite points only, one per step (the last written), in step order."""
    import numpy as np

    finite = np.isfinite(values)
    steps, values = steps[finite][::-1], values[finite][::-1]
    unique, first = np.unique(steps, return_index=True)
    return unique.astype(np.int64), values[first].astype(np.float64)


def reduce(steps: Ints, values: Floats, buckets: int, shift: int = 0) -> tuple[Ints, Floats, int]:
    """Points (one per step, in step order) reduced as the module docstring says; the shift used.

    ``shift`` is where to start looking: the bucket of a step is ``step >> shift`` and the smallest
    shift (at least the one given) with at most ``buckets`` buckets is used. Reducing a reduced series
    again, or one extended by later steps, gives what reducing all its points at once gives."""
    import numpy as np

    n = len(steps)
    buckets = max(1, buckets)

    def fits(s: int) -> bool:
        return 1 + int(np.count_nonzero(np.diff(steps >> s))) <= buckets

    if n and not fits(shift):  # fewer buckets as the shift grows: the smallest that fits, by bisection
        low, high = shift, 62
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (low, mid) if fits(mid) else (mid, high)
        shift = high
    if shift == 0 or n == 0:
        return steps, values, shift
    key = steps >> shift
    lo = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    hi = np.r_[lo[1:], n] - 1
    group = np.repeat(np.arange(len(lo)), hi - lo + 1)
    index = np.arange(n)
    picks = [lo, hi]
    for extreme in (np.minimum, np.maximum):
        best = extreme.reduceat(values, lo)
        at = np.where(values == best[group], index, n)  # the first point reaching it (ties: lowest step)
        picks.append(np.minimum.reduceat(at, lo))
    keep = np.unique(np.concatenate(picks))
    return steps[keep], values[keep], shift


@dataclass(slots=True)
class FileEntry:
    """What is kept of one event file."""

    size: int
    mtime_ns: int
    ino: int
    ctime_ns: int
    head_len: int
    head_crc: int
    offset: int
    plugins: dict[str, str] = field(default_factory=dict)
    series: dict[str, tuple[Ints, Floats, int]] = field(default_factory=dict)  # tag → steps, values, shift


def head_crc(path: Path, length: int) -> int:
    with open_regular(path) as fh:
        return masked_crc(fh.read(length))


def load(path: Path, folder: str, tags: list[str], buckets: int) -> dict[str, FileEntry]:
    """The kept entries by file (relative path), or {} (with one warning when a file was there)."""
    import numpy as np

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        warnings.warn(f"curve cache {path} ignored: cannot read it ({exc.strerror or exc}); rebuilt",
                      CurveCacheWarning, stacklevel=3)  # fmt: skip
        return {}
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes())
            steps, values = npz["steps"], npz["values"]
        if steps.dtype != np.int64 or values.dtype != np.float64 or len(steps) != len(values):
            raise ValueError("arrays of the wrong type")
        if [meta.get(k) for k in ("version", "code", "folder", "tags", "buckets")] != [
            VERSION, fingerprint(), os.path.realpath(folder), sorted(tags), buckets
        ]:  # fmt: skip
            raise ValueError("written for another folder, tag list or reader")
        return {name: _entry(doc, steps, values, buckets) for name, doc in meta["files"].items()}
    except Exception as exc:  # a torn, foreign or hand-edited file: never trusted, never fatal
        warnings.warn(f"curve cache {path} ignored: {exc}; rebuilt", CurveCacheWarning, stacklevel=3)
        return {}


def _entry(doc: dict[str, Any], steps: Any, values: Any, buckets: int) -> FileEntry:
    import numpy as np

    ints = ("size", "mtime_ns", "ino", "ctime_ns", "head_len", "head_crc", "offset")
    if not all(type(doc[k]) is int for k in ints) or not 0 <= doc["offset"] <= doc["size"]:
        raise ValueError("a file entry of the wrong shape")
    plugins = doc["plugins"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in plugins.items()):
        raise ValueError("a plugin entry of the wrong shape")
    entry = FileEntry(**{k: doc[k] for k in ints}, plugins=dict(plugins))
    for tag, (start, count, shift) in doc["series"].items():
        if not (type(start) is int and type(count) is int and type(shift) is int and start >= 0
                and 0 <= count <= 4 * buckets and start + count <= len(steps) and 0 <= shift < 64):  # fmt: skip
            raise ValueError("a series entry out of range")
        s, v = steps[start : start + count], values[start : start + count]
        if count > 1 and not bool((s[1:] > s[:-1]).all()):
            raise ValueError("a series out of step order")
        if not bool(np.isfinite(v).all()):
            raise ValueError("a value that is not finite")
        entry.series[str(tag)] = (s, v, shift)
    return entry


def save(path: Path, folder: str, tags: list[str], buckets: int, entries: dict[str, FileEntry]) -> None:
    """Write the cache atomically; a failure is one warning (the next read is simply a cold one)."""
    import numpy as np

    files: dict[str, Any] = {}
    steps: list[Any] = []
    values: list[Any] = []
    at = 0
    for name, e in entries.items():
        series = {}
        for tag, (s, v, shift) in e.series.items():
            series[tag] = [at, len(s), shift]
            steps.append(s)
            values.append(v)
            at += len(s)
        files[name] = {"size": e.size, "mtime_ns": e.mtime_ns, "ino": e.ino, "ctime_ns": e.ctime_ns, "head_len": e.head_len,
                       "head_crc": e.head_crc, "offset": e.offset, "plugins": e.plugins, "series": series}  # fmt: skip
    meta = {"version": VERSION, "code": fingerprint(), "folder": os.path.realpath(folder), "tags": sorted(tags),
            "buckets": buckets, "files": files}  # fmt: skip
    out = io.BytesIO()
    np.savez(out, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             steps=np.concatenate(steps) if steps else np.zeros(0, dtype=np.int64),
             values=np.concatenate(values) if values else np.zeros(0, dtype=np.float64))  # fmt: skip
    try:
        atomic_write_bytes(path, out.getvalue(), durable=False)  # a cache: a lost write is a cold read
    except (ZtbError, OSError) as exc:
        warnings.warn(f"curve cache {path} not written: {exc}", CurveCacheWarning, stacklevel=3)


def touch(path: Path, now: float | None = None) -> None:
    """Mark a cache read but not rewritten as used (its mtime), at most once a day."""
    import time

    now = time.time() if now is None else now
    try:
        if now - path.stat().st_mtime > 86_400:
            os.utime(path, (now, now))
    except OSError:
        pass  # gone or read-only: it is rebuilt or read as it is


def prune(folder: Path, now: float | None = None, age: float = PRUNE_DAYS * 86_400) -> list[str]:
    """Remove curve caches not used for ``age`` seconds (a session no longer shown); their names."""
    import time

    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        try:
            if entry.name.endswith(".npz") and entry.is_file(follow_symlinks=False) \
                    and now - entry.stat(follow_symlinks=False).st_mtime > age:  # fmt: skip
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            continue
    return removed


def file_identity(path: Path, problems: list[Problem]) -> os.stat_result | None:
    try:
        st = path.stat()
    except OSError as exc:
        problems.append(Problem(str(path), Reason("cannot read: {reason}", reason=os_reason(exc))))
        return None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block the read forever
        problems.append(Problem(str(path), Reason("not a regular file; skipped")))
        return None
    return st


@dataclass(slots=True)
class FolderSeries:
    """The reduced series of every requested tag in a folder, and what it took to get them."""

    series: dict[str, tuple[Ints, Floats]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files_unchanged: int = 0
    files_grown: int = 0
    files_whole: int = 0
    bytes_read: int = 0


def _read(path: Path, st: os.stat_result, prev: FileEntry | None, wanted: list[str], buckets: int,
          out: FolderSeries) -> FileEntry:  # fmt: skip
    """The entry of one file: ``prev`` extended by the bytes after its offset, or read from zero."""
    import numpy as np

    from ztbkit.data.tb_series import read_file

    start = prev.offset if prev is not None else 0
    scan = read_file(path, start, set(wanted), prev.plugins if prev is not None else None)
    head_len = min(st.st_size, HEAD_BYTES)
    entry = FileEntry(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, head_len, head_crc(path, head_len), scan.offset,
                      plugins=scan.plugins)  # fmt: skip
    empty: tuple[Any, Any, int] = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), 0)
    for tag in wanted:
        old_s, old_v, shift = prev.series.get(tag, empty) if prev is not None else empty
        new_s, new_v = last_per_step(scan.steps.get(tag, empty[0]), scan.values.get(tag, empty[1]))
        if len(old_s) and len(new_s) and new_s[0] <= old_s[-1]:
            # The new points go back to a step already kept: only a read from zero gives the right series.
            out.bytes_read += scan.bytes_read
            return _read(path, st, None, wanted, buckets, out)
        s, v, shift = reduce(np.concatenate([old_s, new_s]), np.concatenate([old_v, new_v]), buckets, shift)
        if len(s):
            entry.series[tag] = (s, v, shift)
    out.problems.extend(scan.problems)
    out.bytes_read += scan.bytes_read
    if prev is None:
        out.files_whole += 1
    else:
        out.files_grown += 1
    return entry


def folder_series(folder: str | os.PathLike[str], tags: list[str], buckets: int,
                  cache: Path | None = None) -> FolderSeries:  # fmt: skip
    """Every requested tag's series below ``folder`` (every run in it, files in name order, a step in
    several files keeping the last file's value), reduced to ``buckets`` per file as the module says.

    ``cache``: the cache file to read and update (None: no cache, every file read from zero)."""
    import numpy as np

    from ztbkit.data.tensorboard import SUMMARY_FILE, _summary_scalars, find_runs

    root = Path(folder)
    out = FolderSeries()
    old = load(cache, os.fspath(root), tags, buckets) if cache is not None else {}
    kept: dict[str, FileEntry] = {}
    changed = False
    parts: dict[str, list[tuple[Any, Any]]] = {t: [] for t in tags}
    for _run, files in find_runs(root, out.problems).items():
        if files[0].name == SUMMARY_FILE:
            for tag, (step, _wall, value) in _summary_scalars(files[0], out.problems).items():
                if tag in parts and np.isfinite(value):
                    parts[tag].append((np.array([step], dtype=np.int64), np.array([value], dtype=np.float64)))
            continue
        for f in files:
            name = f.relative_to(root).as_posix()
            st = file_identity(f, out.problems)
            if st is None:
                continue
            prev = old.get(name)
            if prev is not None and (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns) == (
                prev.size,
                prev.mtime_ns,
                prev.ino,
                prev.ctime_ns,
            ):
                entry = prev
                out.files_unchanged += 1
            else:
                grown = (prev is not None and st.st_ino == prev.ino and st.st_size > prev.size
                         and head_crc(f, prev.head_len) == prev.head_crc)  # fmt: skip
                entry = _read(f, st, prev if grown else None, tags, buckets, out)
                changed = True
            kept[name] = entry
            for tag, (s, v, _shift) in entry.series.items():
                parts[tag].append((s, v))
    if cache is not None and (changed or set(kept) != set(old)):
        save(cache, os.fspath(root), tags, buckets, kept)
        prune(cache.parent)
    elif cache is not None:
        touch(cache)
    for tag, pieces in parts.items():
        if pieces:
            # Later files win a step they share with earlier ones (resumed training): reversed, first wins.
            steps = np.concatenate([p[0] for p in pieces][::-1])
            values = np.concatenate([p[1] for p in pieces][::-1])
            unique, first = np.unique(steps, return_index=True)
            out.series[tag] = (unique, values[first])
    return out
