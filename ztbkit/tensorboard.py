"""TensorBoard event files: a fast, correct, incremental scalar scraper.

Policy (users depend on it):

* A *run* is every folder under ``run_dir`` (itself included) holding files whose name starts with
  ``events.out.tfevents``; it is named by its path relative to ``run_dir`` with forward slashes
  (``.`` for ``run_dir`` itself). A folder with ``scalars_summary.json`` uses that file instead.
* Scalars are read from ``simple_value`` (PyTorch, tensorboardX, Stable-Baselines3) and from TF2
  scalar tensors (``float_val``, ``double_val``, ``tensor_content``; the ``scalars`` plugin is named
  on a tag's first event only, so it is remembered per tag). Images, histograms and text are
  skipped. No value is ever invented.
* Several files in one run (resumed training) merge by step: for each tag the latest step wins.
* A scalar's value may be NaN or infinite (a diverged loss); it is shown as null. A record whose
  wall time is not finite is reported (file and offset) and skipped.
* A file cut short at its last record (still being written) gives everything up to the last whole
  record, without a warning. A record whose data CRC is wrong is reported (file and offset) and
  skipped; after a corrupt length field (the framing is lost) reading resumes at the next offset where
  a record's length and data both pass their CRC32C, and the skip is reported.
* Big reads (16 MB and more) are split over worker processes; the result equals a serial read.
* **Incremental**: a cache remembers per file its size, mtime, the offset after the last whole
  record, a CRC of its first bytes and the latest value per tag; a re-scrape reads only new bytes.
  A file that shrank or whose first bytes changed is read again whole.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit.errors import ArtifactsNotFoundError, ZtbError
from ztbkit.fsio import Problem, atomic_write_json, open_regular, read_json, read_json_if_exists
from ztbkit.values import is_finite_number

if TYPE_CHECKING:
    import pandas as pd

PREFIX = "events.out.tfevents"
SUMMARY_FILE = "scalars_summary.json"
CACHE_VERSION = 1
HEAD_BYTES = 4096
#: Reads at least this big are split over worker processes.
PARALLEL_MIN_BYTES = 16 * 2**20
_HEADER = struct.Struct("<QI")
_U32 = struct.Struct("<I")
# TensorFlow DataType enum values of the float types a scalar can have.
_FLOAT_TYPES = {1: "<f", 2: "<d", 19: "<e"}  # DT_FLOAT, DT_DOUBLE, DT_HALF

Point = tuple[int, float, float]  # step, wall_time, value


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C."""
    import google_crc32c

    crc = int(google_crc32c.value(data))
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _newer(old: Point | None, new: Point) -> bool:
    return old is None or new[0] > old[0] or (new[0] == old[0] and new[1] >= old[1])


@dataclass(slots=True)
class FileScan:
    offset: int  # end of the last whole record
    latest: dict[str, Point] = field(default_factory=dict)
    plugins: dict[str, str] = field(default_factory=dict)
    points: list[tuple[str, int, float, float]] | None = None
    problems: list[Problem] = field(default_factory=list)
    bytes_read: int = 0


def _scalar(value: Any, plugins: dict[str, str]) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind != "tensor":
        return None  # images, histograms, audio
    tag = value.tag
    if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
        plugins[tag] = value.metadata.plugin_data.plugin_name
    if plugins.get(tag, "scalars") != "scalars":
        return None
    t = value.tensor
    fmt = _FLOAT_TYPES.get(t.dtype)
    if fmt is None or any(d.size != 1 for d in t.tensor_shape.dim):  # a scalar, or a single element
        return None
    if t.float_val:
        return float(t.float_val[0])
    if t.double_val:
        return float(t.double_val[0])
    if t.half_val:
        return float(struct.unpack("<e", struct.pack("<H", t.half_val[0]))[0])
    if len(t.tensor_content) == struct.calcsize(fmt):
        return float(struct.unpack(fmt, t.tensor_content)[0])
    return None


def scan_file(
    path: str | os.PathLike[str],
    start: int = 0,
    *,
    plugins: dict[str, str] | None = None,
    keep_points: bool = False,
    tags: Iterable[str] | None = None,
    workers: int | None = None,
) -> FileScan:
    """Read the records of one event file from byte ``start``; never raises for bad content.

    Reads of at least :data:`PARALLEL_MIN_BYTES` are split over worker processes (``workers``,
    default: the CPU count, at most 8); the result is the same as reading serially.
    """
    p = os.fspath(path)
    wanted = set(tags) if tags is not None else None
    try:
        size = os.path.getsize(p)
    except OSError as exc:
        scan = FileScan(start, plugins=dict(plugins or {}))
        scan.problems.append(Problem(p, f"cannot read: {exc.strerror or exc}"))
        return scan
    jobs = min(workers or os.cpu_count() or 1, 8, max(1, (size - start) // (PARALLEL_MIN_BYTES // 2)))
    if not keep_points and jobs > 1 and size - start >= PARALLEL_MIN_BYTES:
        return _scan_parallel(p, start, size, jobs, plugins or {}, wanted)
    scan = FileScan(start, plugins=dict(plugins or {}), points=[] if keep_points else None)
    try:
        with open_regular(p) as fh:
            fh.seek(start)
            data = fh.read()
    except ZtbError as exc:
        scan.problems.append(Problem(p, str(exc).removeprefix(f"{p}: ")))
        return scan
    except OSError as exc:
        scan.problems.append(Problem(p, f"cannot read: {exc.strerror or exc}"))
        return scan
    scan.bytes_read = len(data)
    _scan_buffer(data, 0, len(data), start, p, scan, wanted)
    return scan


def _header_ok(data: Any, pos: int, crc: Any) -> bool:
    if pos + 12 > len(data):
        return False
    h = crc(data[pos : pos + 8])
    return bool((((h >> 15) | (h << 17)) + 0xA282EAD8) & 0xFFFFFFFF == _U32.unpack_from(data, pos + 8)[0])


def _resync(data: Any, pos: int, stop: int, crc: Any) -> int | None:
    """The first record start at or after ``pos`` (before ``stop``): its length and its data both pass
    their CRC32C, so a false match inside a payload is about 2**-64 likely."""
    n = len(data)
    while pos < stop:
        if _header_ok(data, pos, crc):
            end = pos + 16 + _HEADER.unpack_from(data, pos)[0]
            if end <= n:
                c = crc(data[pos + 12 : end - 4])
                if (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF == _U32.unpack_from(data, end - 4)[0]:
                    return pos
        pos += 1
    return None


def _scan_range(path: str, lo: int, hi: int, plugins: dict[str, str], wanted: set[str] | None) -> FileScan:
    """Worker: the records of ``path`` that start in [lo, hi); ``lo`` is a record start."""
    import mmap

    scan = FileScan(lo, plugins=dict(plugins))
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        _scan_buffer(data, lo, hi, 0, path, scan, wanted)
        scan.bytes_read = scan.offset - lo
    return scan


def _scan_parallel(path: str, start: int, size: int, jobs: int, plugins: dict[str, str],
                   wanted: set[str] | None) -> FileScan:  # fmt: skip
    import mmap
    import multiprocessing

    import google_crc32c

    # Each range starts at a record proven by both CRCs, found here, and ends where the next one
    # starts: a worker reads exactly what a serial read would, so a corrupt record just after a
    # split is reported as it is serially (a worker resynchronising on its own skipped it silently).
    begins = [start]
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        for i in range(1, jobs):
            found = _resync(
                data, max(begins[-1] + 1, start + (size - start) * i // jobs), size, google_crc32c.value
            )
            if found is None:
                break
            begins.append(found)
    bounds = [*begins, size]
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(len(begins)) as pool:
        parts = pool.starmap(
            _scan_range, [(path, bounds[i], bounds[i + 1], plugins, wanted) for i in range(len(begins))]
        )
    merged = FileScan(parts[-1].offset, plugins=dict(plugins))
    for part in parts:  # in file order, so the merge equals a serial read
        merged.problems.extend(part.problems)
        merged.bytes_read += part.bytes_read
        for tag, plugin in part.plugins.items():
            merged.plugins.setdefault(tag, plugin)
        for tag, point in part.latest.items():
            if _newer(merged.latest.get(tag), point):
                merged.latest[tag] = point
    return merged


def _scan_buffer(
    data: Any, begin: int, stop: int, base: int, p: str, scan: FileScan, wanted: set[str] | None
) -> None:
    """Process the records of ``data`` that start in [begin, stop); offsets reported as ``base`` + index."""
    import google_crc32c
    from tensorboardX.proto import event_pb2

    crc = google_crc32c.value
    from_string, unpack_header, unpack_u32, latest = (
        event_pb2.Event.FromString, _HEADER.unpack_from, _U32.unpack_from, scan.latest
    )  # fmt: skip
    points, plugins = scan.points, scan.plugins
    pos, n = begin, len(data)
    # The length's own CRC is checked only when something looks wrong (the data CRC fails, or the record
    # runs past the end): it is what tells a corrupt length from bad data or a half-written last record.
    while pos + 12 <= n and pos < stop:
        length, length_crc = unpack_header(data, pos)
        end = pos + 16 + length
        payload = data[pos + 12 : end - 4] if end <= n else b""
        c = crc(payload)
        if end > n or (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF != unpack_u32(data, end - 4)[0]:
            h = crc(data[pos : pos + 8])
            if (((h >> 15) | (h << 17)) + 0xA282EAD8) & 0xFFFFFFFF != length_crc:
                # The framing is lost here: find the next record whose length and data both check out.
                nxt = _resync(data, pos + 1, n, crc)
                where = f"offset {base + nxt}" if nxt is not None else "the end of the file"
                scan.problems.append(
                    Problem(p, f"corrupt record length at offset {base + pos}; skipped to {where}")
                )
                if nxt is None:
                    pos = n
                    break
                pos = nxt
                continue
            if end <= n:
                scan.problems.append(Problem(p, f"corrupt record at offset {base + pos} (bad CRC); skipped"))
                pos = end
                continue
            break  # a sound length past the end: the last record is still being written
        record_at, pos = pos, end
        try:
            event = from_string(payload)
        except Exception:  # protobuf's DecodeError type differs between its backends
            scan.problems.append(Problem(p, f"undecodable record at offset {base + record_at}; skipped"))
            continue
        values = event.summary.value
        if not values:
            continue
        step, wall = event.step, event.wall_time
        if not math.isfinite(wall):  # it orders points and goes into the cache, which is strict JSON
            scan.problems.append(
                Problem(p, f"wall_time {wall} at offset {base + record_at} is not finite; skipped")
            )
            continue
        for value in values:
            tag = value.tag
            if wanted is not None and tag not in wanted:
                continue
            if value.WhichOneof("value") == "simple_value":
                v = value.simple_value
            else:
                found = _scalar(value, plugins)
                if found is None:
                    continue
                v = found
            old = latest.get(tag)
            if old is None or step > old[0] or (step == old[0] and wall >= old[1]):
                latest[tag] = (step, wall, v)
            if points is not None:
                points.append((tag, step, wall, v))
    scan.offset = base + pos


def find_runs(run_dir: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """{run name: [event files, or the scalars_summary.json]} for every run under ``run_dir``."""
    root = Path(run_dir)
    runs: dict[str, list[Path]] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        name = Path(folder).relative_to(root).as_posix()
        if SUMMARY_FILE in files:
            runs[name] = [Path(folder) / SUMMARY_FILE]
            continue
        events = sorted(f for f in files if f.startswith(PREFIX))
        if events:
            runs[name] = [Path(folder) / f for f in events]
    return runs


@dataclass(slots=True)
class ScrapeResult:
    runs: dict[str, dict[str, Point]]
    problems: list[Problem] = field(default_factory=list)
    files_whole: int = 0
    files_incremental: int = 0
    files_unchanged: int = 0
    bytes_read: int = 0

    def to_json(self) -> dict[str, Any]:
        """``{run: {tag: latest value, ..., "_latest_step": n, "_latest_wall_time": t}}``."""
        out: dict[str, Any] = {}
        for run, tags in sorted(self.runs.items()):
            doc: dict[str, Any] = {
                tag: p[2] if math.isfinite(p[2]) else None for tag, p in sorted(tags.items())
            }
            steps = [p for p in tags.values() if p[0] >= 0]
            doc["_latest_step"] = max((p[0] for p in steps), default=None)
            doc["_latest_wall_time"] = max((p[1] for p in steps), default=None)
            out[run] = doc
        return out


def _head_crc(path: Path, length: int) -> int:
    with open_regular(path) as fh:
        return masked_crc(fh.read(length))


#: How the cache (strict JSON) holds a latest value that is not finite (a diverged loss): float() reads them back.
_NON_FINITE = ("nan", "inf", "-inf")


def _cacheable(point: Point | list[Any]) -> list[Any]:
    value = point[2]
    return [
        point[0],
        point[1],
        value if isinstance(value, str) or math.isfinite(value) else str(float(value)),
    ]


def _valid_entry(entry: Any) -> dict[str, Any] | None:
    """A cache entry of the right shape, else None (the file is then read whole, as if new)."""
    if not isinstance(entry, dict):
        return None
    ints = ("size", "mtime_ns", "offset", "head_len", "head_crc")
    if not all(isinstance(entry.get(k), int) and not isinstance(entry.get(k), bool) for k in ints):
        return None
    latest, plugins = entry.get("latest"), entry.get("plugins", {})
    if not isinstance(latest, dict) or not isinstance(plugins, dict):
        return None
    for point in latest.values():
        if not (isinstance(point, list) and len(point) == 3 and type(point[0]) is int
                and type(point[1]) in (int, float) and math.isfinite(point[1])
                and (type(point[2]) in (int, float) or point[2] in _NON_FINITE)):  # fmt: skip
            return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in plugins.items()):
        return None
    if not 0 <= entry["offset"] <= entry["size"] or not 0 <= entry["head_len"] <= entry["size"]:
        return None
    return entry


def _classify(entry: dict[str, Any] | None, path: Path, st: os.stat_result) -> str:
    """new | unchanged (nothing to read) | grown (read the new tail) | changed (read it whole)."""
    if not entry:
        return "new"
    if st.st_size == entry["size"] and st.st_mtime_ns == entry["mtime_ns"]:
        return "unchanged"
    if st.st_size < entry["size"] or _head_crc(path, entry["head_len"]) != entry["head_crc"]:
        return "changed"
    return "grown"


def _summary_scalars(path: Path, problems: list[Problem]) -> dict[str, Point]:
    read = read_json(path)
    if not read.ok or not isinstance(read.value, dict):
        problems.append(read.problem or Problem(str(path), "expected a JSON object of tag: number"))
        return {}
    out = {}
    for tag, value in read.value.items():
        if not is_finite_number(value):
            problems.append(Problem(str(path), f"{tag}: not a finite number; left out"))
            continue
        out[str(tag)] = (-1, 0.0, float(value))
    return out


def scrape(
    run_dir: str | os.PathLike[str],
    *,
    cache: str | os.PathLike[str] | None = None,
    tags: Sequence[str] | None = None,
) -> ScrapeResult:
    """Latest value per tag per run; with ``cache``, only bytes added since the last scrape are read."""
    root = Path(run_dir)
    if not root.is_dir():
        raise ArtifactsNotFoundError(f"--run-dir: {root} is not a folder")
    old: dict[str, Any] = {}
    if cache is not None:
        read = read_json_if_exists(cache)
        if read is not None and read.ok and isinstance(read.value, dict) and read.value.get("version") == CACHE_VERSION \
                and read.value.get("tags") == (sorted(tags) if tags else None):  # fmt: skip
            files = read.value.get("files")
            old = files if isinstance(files, dict) else {}
    result = ScrapeResult(runs={})
    new_cache: dict[str, Any] = {}
    for run, files in find_runs(root).items():
        merged: dict[str, Point] = {}
        if files[0].name == SUMMARY_FILE:
            result.runs[run] = _summary_scalars(files[0], result.problems)
            continue
        for f in files:
            key = f.relative_to(root).as_posix()
            try:
                st = f.stat()
            except OSError as exc:
                result.problems.append(Problem(str(f), f"cannot read: {exc.strerror or exc}"))
                continue
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block the read forever
                result.problems.append(Problem(str(f), "not a regular file; skipped"))
                continue
            entry = _valid_entry(old.get(key))
            kind = _classify(entry, f, st)
            if kind == "unchanged" and entry is not None:
                result.files_unchanged += 1
                new_cache[key] = entry
            else:
                prev: dict[str, Any] = entry if kind == "grown" and entry is not None else {}
                grown = bool(prev)
                scan = scan_file(f, prev.get("offset", 0), plugins=prev.get("plugins"), tags=tags)
                result.problems.extend(scan.problems)
                result.bytes_read += scan.bytes_read
                result.files_incremental += grown
                result.files_whole += not grown
                latest: dict[str, Point] = {t: (p[0], p[1], p[2]) for t, p in prev.get("latest", {}).items()}
                for t, point in scan.latest.items():
                    if _newer(latest.get(t), point):
                        latest[t] = point
                head_len = min(st.st_size, HEAD_BYTES)
                new_cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "offset": scan.offset,
                                  "head_len": head_len, "head_crc": _head_crc(f, head_len),
                                  "latest": {t: _cacheable(p) for t, p in latest.items()},
                                  "plugins": scan.plugins}  # fmt: skip
            for t, raw in new_cache[key]["latest"].items():
                point = (int(raw[0]), float(raw[1]), float(raw[2]))
                if _newer(merged.get(t), point):
                    merged[t] = point
        result.runs[run] = merged
    if cache is not None:
        atomic_write_json(cache, {"version": CACHE_VERSION, "tags": sorted(tags) if tags else None, "files": new_cache},
                          indent=None)  # fmt: skip
    return result


def iter_points(
    run_dir: str | os.PathLike[str], tags: Iterable[str] | None = None
) -> Iterator[tuple[str, str, int, float, float]]:
    """Every scalar point as (run, tag, step, wall_time, value), file by file."""
    wanted = list(tags) if tags is not None else None
    for run, files in find_runs(run_dir).items():
        if files[0].name == SUMMARY_FILE:
            for tag, (step, wall, value) in _summary_scalars(files[0], []).items():
                if wanted is None or tag in wanted:
                    yield run, tag, step, wall, value
            continue
        for f in files:
            scan = scan_file(f, keep_points=True, tags=wanted)
            for tag, step, wall, value in scan.points or ():
                yield run, tag, step, wall, value


def scalars_frame(run_dir: str | os.PathLike[str], tags: Iterable[str] | None = None) -> pd.DataFrame:
    """All scalar points as a DataFrame (run, tag, step, wall_time, value), for notebooks."""
    import pandas as pd

    return pd.DataFrame(
        list(iter_points(run_dir, tags)), columns=["run", "tag", "step", "wall_time", "value"]
    )


def dumps(result: ScrapeResult) -> str:
    return json.dumps(result.to_json(), indent=2, allow_nan=False)
