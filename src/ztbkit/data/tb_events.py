"""TensorBoard event-file framing: TFRecord records → scalar points, fast and tolerant.

Policy (users depend on it):

* Scalars are read from ``simple_value`` (PyTorch, tensorboardX, Stable-Baselines3) and from TF2
  scalar tensors of a float or integer type (``float_val``, ``double_val``, ``half_val``,
  ``int_val``, ``int64_val``, ``uint32_val``, ``uint64_val``, ``tensor_content``; the ``scalars``
  plugin is named on a tag's first event only, so it is remembered per tag, as TensorBoard does).
  A one-element tensor of another plugin is not a scalar. Images, histograms and text are skipped.
  No value is ever invented.
* A scalar's value may be NaN or infinite (a diverged loss); it is kept. A record whose wall time is
  not finite is reported (file and offset) and skipped.
* A file cut short at its last record (still being written) gives everything up to the last whole
  record, without a warning. A record whose data CRC is wrong is reported (file and offset) and
  skipped; after a corrupt length field (the framing is lost) reading resumes at the next offset where
  a record's length and data both pass their CRC32C, and the skip is reported.
* Big reads (16 MiB and more) are split over worker processes; the result equals a serial read,
  including a tag whose plugin was named before a worker's range (its values in that range are
  kept aside until the merge knows the plugin).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ztbkit.core.errors import Reason, ZtbError, os_reason
from ztbkit.core.jsonread import Problem, open_regular

#: Reads at least this big are split over worker processes.
PARALLEL_MIN_BYTES = 16 * 2**20
_HEADER = struct.Struct("<QI")
_U32 = struct.Struct("<I")
# TensorFlow DataType enum values of the float types a scalar can have.
_FLOAT_TYPES = {1: "<f", 2: "<d", 19: "<e"}  # DT_FLOAT, DT_DOUBLE, DT_HALF
# The integer types (EventAccumulator and tbparse read them as scalars too) and the repeated field
# protobuf keeps each in when it is not packed into tensor_content.
_INT_TYPES = {
    3: ("<i", "int_val"), 4: ("<B", "int_val"), 5: ("<h", "int_val"), 6: ("<b", "int_val"),
    9: ("<q", "int64_val"), 17: ("<H", "int_val"), 22: ("<I", "uint32_val"), 23: ("<Q", "uint64_val"),
}  # DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_INT64, DT_UINT16, DT_UINT32, DT_UINT64  # fmt: skip

Point = tuple[int, float, float]  # step, wall_time, value


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C."""
    import google_crc32c

    crc = int(google_crc32c.value(data))
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def newer(old: Point | None, new: Point) -> bool:
    return old is None or new[0] > old[0] or (new[0] == old[0] and new[1] >= old[1])


@dataclass(slots=True)
class FileScan:
    offset: int  # end of the last whole record
    latest: dict[str, Point] = field(default_factory=dict)
    plugins: dict[str, str] = field(default_factory=dict)
    points: list[tuple[str, int, float, float]] | None = None
    problems: list[Problem] = field(default_factory=list)
    bytes_read: int = 0
    # A worker that starts mid-file: the newest tensor point of each tag whose plugin was not named in
    # its range (before that point). Whether it is a scalar depends on what came before the range.
    undecided: dict[str, Point] | None = None


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
    if any(d.size != 1 for d in t.tensor_shape.dim):  # a scalar, or a single element
        return None
    fmt = _FLOAT_TYPES.get(t.dtype)
    if fmt is None:
        kind_of_int = _INT_TYPES.get(t.dtype)
        if kind_of_int is None:
            return None  # strings, bools, complex numbers
        fmt, repeated = kind_of_int
        ints = getattr(t, repeated)
        if ints:
            return float(ints[0])
    elif t.float_val:
        return float(t.float_val[0])
    elif t.double_val:
        return float(t.double_val[0])
    elif t.half_val:
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
        scan.problems.append(Problem(p, Reason("cannot read: {reason}", reason=os_reason(exc))))
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
        scan.problems.append(Problem(p, Reason("cannot read: {reason}", reason=os_reason(exc))))
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


def _scan_range(
    path: str, lo: int, hi: int, plugins: dict[str, str], wanted: set[str] | None, first: bool = True
) -> FileScan:
    """Worker: the records of ``path`` that start in [lo, hi); ``lo`` is a record start. Only the
    ``first`` range knows the plugins named before it (``plugins``, from the caller)."""
    import mmap

    scan = FileScan(lo, plugins=dict(plugins))
    if not first:
        # What the ranges before this one named is not known here: start from nothing and keep aside
        # the tensor points of tags not named yet in this range (the merge decides them).
        scan.plugins, scan.undecided = {}, {}
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
    # The protobuf messages are imported here, once: forked workers inherit them instead of each
    # importing tensorboardX again.
    from tensorboardX.proto import event_pb2  # noqa: F401

    with multiprocessing.get_context(method).Pool(len(begins)) as pool:
        parts = pool.starmap(
            _scan_range,
            [(path, bounds[i], bounds[i + 1], plugins, wanted, i == 0) for i in range(len(begins))],
        )
    merged = FileScan(parts[-1].offset, plugins=dict(plugins))
    for part in parts:  # in file order, so the merge equals a serial read
        merged.problems.extend(part.problems)
        merged.bytes_read += part.bytes_read
        # A point kept aside was read before its range named the tag's plugin: it is a scalar exactly
        # when the plugin named last before the range (or none) is "scalars", as a serial read sees it.
        for tag, point in (part.undecided or {}).items():
            if merged.plugins.get(tag, "scalars") == "scalars" and newer(merged.latest.get(tag), point):
                merged.latest[tag] = point
        merged.plugins.update(part.plugins)  # a later name replaces an earlier one, as serially
        for tag, point in part.latest.items():
            if newer(merged.latest.get(tag), point):
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
    points, plugins, undecided = scan.points, scan.plugins, scan.undecided
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
                at = base + pos
                if nxt is None:
                    why = Reason(
                        "corrupt record length at offset {at}; skipped to the end of the file", at=at
                    )
                else:
                    why = Reason(
                        "corrupt record length at offset {at}; skipped to offset {to}", at=at, to=base + nxt
                    )
                scan.problems.append(Problem(p, why))
                if nxt is None:
                    pos = n
                    break
                pos = nxt
                continue
            if end <= n:
                scan.problems.append(
                    Problem(p, Reason("corrupt record at offset {at} (bad CRC); skipped", at=base + pos))
                )
                pos = end
                continue
            break  # a sound length past the end: the last record is still being written
        record_at, pos = pos, end
        try:
            event = from_string(payload)
        except Exception:  # protobuf's DecodeError type differs between its backends
            scan.problems.append(
                Problem(p, Reason("undecodable record at offset {at}; skipped", at=base + record_at))
            )
            continue
        values = event.summary.value
        if not values:
            continue
        step, wall = event.step, event.wall_time
        if not math.isfinite(wall):  # it orders points and goes into the cache, which is strict JSON
            scan.problems.append(
                Problem(
                    p,
                    Reason(
                        "wall_time {wall} at offset {at} is not finite; skipped",
                        wall=wall,
                        at=base + record_at,
                    ),
                )
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
                if undecided is not None and tag not in plugins:
                    kept = undecided.get(tag)
                    if kept is None or step > kept[0] or (step == kept[0] and wall >= kept[1]):
                        undecided[tag] = (step, wall, v)
                    continue
            old = latest.get(tag)
            if old is None or step > old[0] or (step == old[0] and wall >= old[1]):
                latest[tag] = (step, wall, v)
            if points is not None:
                points.append((tag, step, wall, v))
    scan.offset = base + pos
