"""Whole scalar series from TensorBoard event files, as arrays: the learning-curve reader.

Policy (users depend on it):

* What is read, and every problem reported, is what :mod:`ztbkit.data.tb_events` reads and reports
  (its framing policy: each record's CRC32C checked, a half-written last record left for later,
  corrupt records reported and skipped, scalars from ``simple_value`` and from TF2 scalar tensors).
* Records of the common shape — an Event holding a wall time, a step and a Summary whose values are
  each a tag and a ``simple_value`` (what PyTorch, tensorboardX and Stable-Baselines3 write) — are
  decoded straight from their bytes with numpy, every record of the file at once. A record is taken
  this way only when its bytes are exactly that shape, field by field, to its last byte; any other
  record (tensors, plugin metadata, other fields, a wall time that is not finite, a tag that is not
  UTF-8) is decoded by protobuf one by one, so the result always equals protobuf's decode.
* The series of each tag is in file order (a step written twice is there twice; the caller decides
  which wins) and keeps NaN and infinite values (the caller decides whether to draw them).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ztbkit.core.errors import Reason, os_reason
from ztbkit.core.jsonread import Problem
from ztbkit.data.tb_events import FileScan, _scalar, _scan_buffer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_LEN = struct.Struct("<Q")
_U32 = struct.Struct("<I")
#: Records decoded with numpy per batch: bounds the temporary arrays of a big file (~100 bytes a record).
_BATCH = 1 << 18


@dataclass(slots=True)
class SeriesScan:
    """What one read of an event file (from byte ``start`` to ``offset``) found, per tag."""

    offset: int  # end of the last whole record: the next read starts here
    steps: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    values: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    plugins: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    bytes_read: int = 0
    records: int = 0
    # Every point in file order (then value order within a record): tag (an index into ``tags``), step,
    # wall time, value — what ``tensorboard.iter_points`` yields.
    tags: list[str] = field(default_factory=list)
    order_tags: npt.NDArray[np.int64] | None = None
    order_steps: npt.NDArray[np.int64] | None = None
    order_walls: npt.NDArray[np.float64] | None = None
    order_values: npt.NDArray[np.float64] | None = None


def read_series(
    data: Any, path: str, base: int, wanted: set[str] | None, plugins: dict[str, str] | None = None
) -> SeriesScan:
    """The scalar points of ``wanted`` tags (None: all) in ``data``, the bytes of ``path`` from
    offset ``base`` (a record start). ``plugins``: what earlier reads of the file named per tag."""
    import google_crc32c

    scan = SeriesScan(base, plugins=dict(plugins or {}), bytes_read=len(data))
    starts, lengths, stop, clean = _frame(data, google_crc32c.value)
    if not clean:
        # A corrupt record somewhere: the careful reader reports it and resynchronises; rare enough
        # that its speed does not matter.
        return _careful(data, path, base, wanted, scan)
    scan.offset, scan.records = base + stop, len(starts)
    _decode(data, starts, lengths, path, base, wanted, scan)
    return scan


def _frame(data: Any, crc: Any) -> tuple[list[int], Any, int, bool]:
    """Record starts and payload lengths from byte 0, each data CRC checked once; the end of the last
    whole record; False when a record is corrupt (a data CRC, or a length whose own CRC fails).

    The lengths are followed first (the loop that must be sequential, kept to one unpack a record),
    the data CRCs computed after it and compared all at once."""
    import numpy as np

    starts: list[int] = []
    add, unpack = starts.append, _LEN.unpack_from
    pos, last = 0, len(data) - 12
    while pos <= last:
        add(pos)
        pos += unpack(data, pos)[0] + 16
    if pos > len(data):  # the last record runs past the end: still being written when its length is sound
        pos = starts.pop()
        h = crc(data[pos : pos + 8])
        if (((h >> 15) | (h << 17)) + 0xA282EAD8) & 0xFFFFFFFF != _U32.unpack_from(data, pos + 8)[0]:
            return starts, None, pos, False
    if not starts:
        return starts, np.zeros(0, dtype=np.int64), pos, True
    first = np.asarray(starts, dtype=np.int64) + 12
    last_byte = np.append(first[1:] - 12, pos) - 4  # each payload ends where its data CRC starts
    crcs = np.array(
        [crc(data[a:b]) for a, b in zip(first.tolist(), last_byte.tolist(), strict=True)], dtype=np.uint64
    )
    masked = (((crcs >> np.uint64(15)) | (crcs << np.uint64(17))) + np.uint64(0xA282EAD8)) & np.uint64(
        0xFFFFFFFF
    )
    lengths = last_byte - first
    stored = _view(data, "<u4")[last_byte]
    return starts, lengths, pos, bool((masked == stored).all())


def _view(data: Any, dtype: Any) -> Any:
    """``data`` as ``dtype`` items starting at every byte (item i is the one at byte offset i)."""
    import numpy as np

    size = np.dtype(dtype).itemsize
    return np.ndarray((max(0, len(data) - size + 1),), dtype=dtype, buffer=data, strides=(1,))


def _careful(data: Any, path: str, base: int, wanted: set[str] | None, scan: SeriesScan) -> SeriesScan:
    import numpy as np

    found = FileScan(base, plugins=scan.plugins, points=[])
    _scan_buffer(data, 0, len(data), base, path, found, wanted)
    by_tag: dict[str, tuple[list[int], list[float]]] = {}
    for tag, step, _wall, value in found.points or ():
        steps, values = by_tag.setdefault(tag, ([], []))
        steps.append(step)
        values.append(value)
    for tag, (steps, values) in by_tag.items():
        scan.steps[tag] = np.array(steps, dtype=np.int64)
        scan.values[tag] = np.array(values, dtype=np.float64)
    points = found.points or []
    scan.tags = list(dict.fromkeys(p[0] for p in points))
    ids = {t: i for i, t in enumerate(scan.tags)}
    scan.order_tags = np.array([ids[p[0]] for p in points], dtype=np.int64)
    scan.order_steps = np.array([p[1] for p in points], dtype=np.int64)
    scan.order_walls = np.array([p[2] for p in points], dtype=np.float64)
    scan.order_values = np.array([p[3] for p in points], dtype=np.float64)
    scan.offset, scan.plugins, scan.problems = found.offset, found.plugins, found.problems
    return scan


def _varint(buf: Any, at: Any, width: int) -> tuple[Any, Any, Any]:
    """Protobuf varints starting at ``at`` (one per row): value (uint64), byte count, terminated.

    Byte by byte over the rows still going: most varints here are one to three bytes."""
    import numpy as np

    last = len(buf) - 1
    b = buf[np.minimum(at, last)]
    value = (b & 0x7F).astype(np.uint64)
    count = np.ones(len(at), dtype=np.int64)
    going = np.flatnonzero(b & 0x80)
    for i in range(1, width):
        if not len(going):
            break
        b = buf[np.minimum(at[going] + i, last)]
        value[going] |= (b & 0x7F).astype(np.uint64) << np.uint64(7 * i)
        count[going] += 1
        going = going[(b & 0x80) != 0]
    done = np.ones(len(at), dtype=bool)
    done[going] = False
    return value, count, done


def _decode(data: Any, starts: list[int], lengths: Any, path: str, base: int,
            wanted: set[str] | None, scan: SeriesScan) -> None:  # fmt: skip
    import numpy as np

    buf = np.zeros(len(data) + 8, dtype=np.uint8)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    rec_parts: list[Any] = []
    k_parts: list[Any] = []
    tag_parts: list[Any] = []
    step_parts: list[Any] = []
    value_parts: list[Any] = []
    wall_parts: list[Any] = []
    names: dict[bytes, int] = {}
    slow: list[int] = []
    for lo in range(0, len(starts), _BATCH):
        first = np.asarray(starts[lo : lo + _BATCH], dtype=np.int64) + 12
        end = first + lengths[lo : lo + _BATCH]
        part = _fast(data, buf, first, end, names)
        slow.extend((lo + np.flatnonzero(~part[0])).tolist())
        rec_parts.append(part[1] + lo)
        for parts, got in zip(
            (k_parts, tag_parts, step_parts, wall_parts, value_parts), part[2:], strict=True
        ):
            parts.append(got)
    tags = [bytes(b).decode("utf-8", "surrogateescape") for b in names]
    rec, k, tag_id, steps = (np.concatenate(p) if p else np.zeros(0, dtype=np.int64)
                             for p in (rec_parts, k_parts, tag_parts, step_parts))  # fmt: skip
    walls, values = (
        np.concatenate(p) if p else np.zeros(0, dtype=np.float64) for p in (wall_parts, value_parts)
    )
    if slow:  # protobuf decodes the rest, in file order (a tensor's plugin is named on an earlier record)
        extra = _slow(
            data, [starts[i] for i in slow], [int(lengths[i]) for i in slow], slow, path, base, scan, tags
        )
        rec, k, tag_id, steps, walls, values = (
            np.concatenate([a, np.asarray(b, dtype=a.dtype)])
            for a, b in zip((rec, k, tag_id, steps, walls, values), extra, strict=True)
        )
    key = rec * 65536 + k  # file order, then value order within a record
    if len(key) > 1 and not bool((key[1:] >= key[:-1]).all()):
        order = np.argsort(key, kind="stable")
        tag_id, steps, walls, values = tag_id[order], steps[order], walls[order], values[order]
    scan.tags, scan.order_tags, scan.order_steps, scan.order_walls, scan.order_values = (
        tags,
        tag_id,
        steps.astype(np.int64),
        walls.astype(np.float64),
        values.astype(np.float64),
    )
    for i, tag in enumerate(tags):
        if wanted is not None and tag not in wanted:
            continue
        mine = tag_id == i
        if mine.any():
            scan.steps[tag] = steps[mine].astype(np.int64)
            scan.values[tag] = values[mine].astype(np.float64)


def _fast(data: Any, buf: Any, first: Any, end: Any, names: dict[bytes, int]) -> tuple[Any, ...]:
    """Decode the records [first, end) of the common shape (module docstring); returns which records
    were decoded here, and for each value: record index, position in its record, tag id, step, value.

    ``buf`` is ``data`` as bytes with 8 zero bytes after it (so a gather near the end stays inside)."""
    import numpy as np

    n = len(buf)
    ok = (first + 9 <= end) & (buf[first] == 0x09)  # Event.wall_time, field 1, fixed64
    wall = _view(buf, "<f8")[np.minimum(first + 1, n - 8)]
    ok &= np.isfinite(wall)  # a record with a wall time that is not finite is reported by protobuf's path
    q = first + 9
    has_step = (q < end) & (buf[np.minimum(q, n - 1)] == 0x10)  # Event.step, field 2 (absent when 0)
    raw_step, count, done = _varint(buf, q + 1, 10)
    step = np.where(has_step, raw_step.view(np.int64), 0)
    ok &= ~has_step | done
    q = np.where(has_step, q + 1 + count, q)
    ok &= (q < end) & (buf[np.minimum(q, n - 1)] == 0x2A)  # Event.summary, field 5 ...
    size, count, done = _varint(buf, q + 1, 5)
    cur = q + 1 + count
    ok &= done & (cur + size.astype(np.int64) == end)  # ... and it is the last field
    recs, ks, tag_at, tag_len, vals = [], [], [], [], []
    as_f4 = _view(buf, "<f4")
    k = 0
    while True:
        act = np.flatnonzero(ok & (cur < end))
        if not len(act):
            break
        c, e = cur[act], end[act]
        good = buf[c] == 0x0A  # Summary.value, field 1
        vsize, count, done = _varint(buf, c + 1, 5)
        vs = c + 1 + count
        ve = vs + vsize.astype(np.int64)
        good &= done & (ve <= e) & (buf[np.minimum(vs, n - 1)] == 0x0A)  # Value.tag, field 1
        tsize, count, done = _varint(buf, vs + 1, 5)
        ts = vs + 1 + count
        te = ts + tsize.astype(np.int64)
        good &= done & (tsize > 0) & (te + 5 == ve) & (buf[np.minimum(te, n - 1)] == 0x15)  # simple_value
        ok[act[~good]] = False
        act, ts, te, ve = act[good], ts[good], te[good], ve[good]
        recs.append(act)
        ks.append(np.full(len(act), k, dtype=np.int64))
        tag_at.append(ts)
        tag_len.append(te - ts)
        vals.append(as_f4[te + 1].astype(np.float64))
        cur[act] = ve
        k += 1
    if not recs:
        empty = np.zeros(0, dtype=np.int64)
        return ok, empty, empty, empty, empty, np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.float64)
    rec, kk, at, ln, val = (np.concatenate(p) for p in (recs, ks, tag_at, tag_len, vals))
    tag_id = _tag_ids(buf, at, ln, names)
    ok[rec[tag_id < 0]] = False
    keep = ok[rec]  # a record refused at a later value gives none of its values here
    rec = rec[keep]
    return ok, rec, kk[keep], tag_id[keep], step[rec], wall[rec], val[keep]


def _tag_ids(buf: Any, at: Any, ln: Any, names: dict[bytes, int]) -> Any:
    """The id in ``names`` of each tag (bytes ``buf[at:at+ln]``), -1 for one that is not UTF-8.

    Every tag is read as 8-byte words (bytes past its end masked off) and grouped by a hash of its
    length and words; each group is then checked word for word against its first member, and a hash
    collision (never seen) falls back to grouping tags of one length by their bytes."""
    import numpy as np

    words = _view(buf, "<u8")
    top = len(words) - 1
    key = ln.astype(np.uint64)
    cols = []
    for j in range(0, int(ln.max()) if len(ln) else 0, 8):
        bits = np.clip(ln - j, 0, 8).astype(np.uint64) * np.uint64(8)
        mask = np.where(
            bits == 64, np.uint64(0xFFFFFFFFFFFFFFFF), (np.uint64(1) << (bits % np.uint64(64))) - np.uint64(1)
        )
        col = words[np.minimum(at + j, top)] & mask
        cols.append(col)
        key = key * np.uint64(0x9E3779B97F4A7C15) + col * np.uint64(2 * j + 1)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    rep = first[inverse]
    if not (bool((ln == ln[rep]).all()) and all(bool((col == col[rep]).all()) for col in cols)):
        return _tag_ids_by_length(buf, at, ln, names)
    ids = np.asarray([_name_id(buf, int(at[i]), int(ln[i]), names) for i in first.tolist()], dtype=np.int64)
    return ids[inverse]


def _name_id(buf: Any, start: int, length: int, names: dict[bytes, int]) -> int:
    name = buf[start : start + length].tobytes()
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return -1  # protobuf refuses the record: its path reports it
    return names.setdefault(name, len(names))


def _tag_ids_by_length(buf: Any, at: Any, ln: Any, names: dict[bytes, int]) -> Any:
    """:func:`_tag_ids` by sorting the bytes of the tags of each length (no hash)."""
    import numpy as np

    tag_id = np.empty(len(at), dtype=np.int64)
    for length in np.unique(ln).tolist():
        sel = np.flatnonzero(ln == length)
        start = at[sel]
        rows = np.ascontiguousarray(buf[start[:, None] + np.arange(length)])
        _, first, inverse = np.unique(rows.view(np.dtype((np.void, length))).ravel(),
                                      return_index=True, return_inverse=True)  # fmt: skip
        ids = [_name_id(buf, int(start[i]), length, names) for i in first.tolist()]
        tag_id[sel] = np.asarray(ids, dtype=np.int64)[inverse.ravel()]
    return tag_id


def _slow(data: Any, starts: list[int], lengths: list[int], recs: list[int], path: str, base: int,
          scan: SeriesScan, tags: list[str]) -> tuple[list[Any], ...]:  # fmt: skip
    """Protobuf's decode of the records the fast path did not take (as tb_events reads them)."""
    import math

    from tensorboardX.proto import event_pb2

    out: tuple[list[Any], ...] = ([], [], [], [], [], [])
    ids = {t: i for i, t in enumerate(tags)}
    plugins = scan.plugins
    for at, length, rec in zip(starts, lengths, recs, strict=True):
        try:
            event = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
        except Exception:  # protobuf's DecodeError type differs between its backends
            scan.problems.append(
                Problem(path, Reason("undecodable record at offset {at}; skipped", at=base + at))
            )
            continue
        values = event.summary.value
        if not values:
            continue
        if not math.isfinite(event.wall_time):
            why = Reason(
                "wall_time {wall} at offset {at} is not finite; skipped", wall=event.wall_time, at=base + at
            )
            scan.problems.append(Problem(path, why))
            continue
        for k, value in enumerate(values):
            found = _scalar(value, plugins)
            if found is None:
                continue
            if value.tag not in ids:
                ids[value.tag] = len(tags)
                tags.append(value.tag)
            for column, item in zip(
                out, (rec, k, ids[value.tag], event.step, event.wall_time, found), strict=True
            ):
                column.append(item)
    return out


def read_file(path: str | os.PathLike[str], start: int, wanted: set[str] | None,
              plugins: dict[str, str] | None = None) -> SeriesScan:  # fmt: skip
    """:func:`read_series` of the file at ``path`` from byte ``start``; an unreadable file is a
    problem in the result, never an exception."""
    from ztbkit.core.errors import ZtbError
    from ztbkit.core.jsonread import open_regular

    p = os.fspath(path)
    try:
        with open_regular(p) as fh:
            fh.seek(start)
            data = fh.read()
    except ZtbError as exc:
        return SeriesScan(
            start, plugins=dict(plugins or {}), problems=[Problem(p, str(exc).removeprefix(f"{p}: "))]
        )
    except OSError as exc:
        why = Reason("cannot read: {reason}", reason=os_reason(exc))
        return SeriesScan(start, plugins=dict(plugins or {}), problems=[Problem(p, why)])
    return read_series(data, p, start, wanted, plugins)
