"""TensorBoard event files: a fast, correct, incremental scalar scraper.

Policy (users depend on it):

* A *run* is every folder under ``run_dir`` (itself included) holding files whose name starts with
  ``events.out.tfevents``; it is named by its path relative to ``run_dir`` with forward slashes
  (``.`` for ``run_dir`` itself). A folder with ``scalars_summary.json`` uses that file instead.
* Scalars are read as :mod:`ztbkit.data.tb_events` says (its framing policy: CRCs, files cut
  short, corrupt records, parallel reads of big files).
* Several files in one run (resumed training) merge by step: for each tag the latest step wins.
* A scalar's value may be NaN or infinite (a diverged loss); it is shown as null. A record whose
  wall time is not finite is reported (file and offset) and skipped.
* A file cut short at its last record (still being written) gives everything up to the last whole
  record, without a warning. A record whose data CRC is wrong is reported (file and offset) and
  skipped; after a corrupt length field (the framing is lost) reading resumes at the next offset where
  a record's length and data both pass their CRC32C, and the skip is reported.
* Big reads (16 MB and more) are split over worker processes; the result equals a serial read.
* **Incremental**: a cache remembers per file its size, mtime, inode, change time (ctime), the offset
  after the last whole record, a CRC of its first bytes and the latest value per tag; a re-scrape
  reads only new bytes. A file that shrank, was replaced (another inode) or whose first bytes changed
  is read again whole, and so is one whose mtime was put back (``touch -r``, ``cp -p``): its ctime
  cannot be.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit.core.errors import ArtifactsNotFoundError, Reason, os_reason
from ztbkit.core.fsio import atomic_write_json
from ztbkit.core.jsonread import Problem, open_regular, read_json, read_json_if_exists
from ztbkit.core.values import is_finite_number
from ztbkit.data.tb_events import Point, masked_crc, newer, scan_file

if TYPE_CHECKING:
    import pandas as pd

PREFIX = "events.out.tfevents"
SUMMARY_FILE = "scalars_summary.json"
CACHE_VERSION = 1
HEAD_BYTES = 4096


def find_runs(
    run_dir: str | os.PathLike[str], problems: list[Problem] | None = None
) -> dict[str, list[Path]]:
    """{run name: [event files, or the scalars_summary.json]} for every run under ``run_dir``.

    A folder that cannot be listed (permission denied, gone meanwhile) is a problem naming it in
    ``problems`` and the walk goes on; links to folders are not followed (a loop cannot trap it)."""
    root = Path(run_dir)
    runs: dict[str, list[Path]] = {}

    def unlistable(exc: OSError) -> None:
        if problems is not None and exc.filename is not None:
            problems.append(
                Problem(
                    os.fsdecode(exc.filename),
                    Reason("cannot list this folder: {reason}; skipped", reason=os_reason(exc)),
                )
            )

    for folder, dirs, files in os.walk(root, onerror=unlistable):
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
    # ino/ctime_ns: absent from caches written before them, which then never count as unchanged
    same = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
    if same == (entry["size"], entry["mtime_ns"], entry.get("ino"), entry.get("ctime_ns")):
        return "unchanged"
    replaced = entry.get("ino", st.st_ino) != st.st_ino
    if st.st_size < entry["size"] or replaced or _head_crc(path, entry["head_len"]) != entry["head_crc"]:
        return "changed"
    return "grown"


def _summary_scalars(path: Path, problems: list[Problem]) -> dict[str, Point]:
    read = read_json(path)
    if not read.ok or not isinstance(read.value, dict):
        problems.append(read.problem or Problem(str(path), Reason("expected a JSON object of tag: number")))
        return {}
    out = {}
    for tag, value in read.value.items():
        if not is_finite_number(value):
            problems.append(Problem(str(path), Reason("{tag}: not a finite number; left out", tag=tag)))
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
        raise ArtifactsNotFoundError("--run-dir: {root} is not a folder", root=root)
    old: dict[str, Any] = {}
    if cache is not None:
        read = read_json_if_exists(cache)
        if read is not None and read.ok and isinstance(read.value, dict) and read.value.get("version") == CACHE_VERSION \
                and read.value.get("tags") == (sorted(tags) if tags else None):  # fmt: skip
            files = read.value.get("files")
            old = files if isinstance(files, dict) else {}
    result = ScrapeResult(runs={})
    new_cache: dict[str, Any] = {}
    for run, files in find_runs(root, result.problems).items():
        merged: dict[str, Point] = {}
        if files[0].name == SUMMARY_FILE:
            result.runs[run] = _summary_scalars(files[0], result.problems)
            continue
        for f in files:
            key = f.relative_to(root).as_posix()
            try:
                st = f.stat()
            except OSError as exc:
                result.problems.append(
                    Problem(str(f), Reason("cannot read: {reason}", reason=os_reason(exc)))
                )
                continue
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block the read forever
                result.problems.append(Problem(str(f), Reason("not a regular file; skipped")))
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
                    if newer(latest.get(t), point):
                        latest[t] = point
                head_len = min(st.st_size, HEAD_BYTES)
                new_cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino,
                                  "ctime_ns": st.st_ctime_ns, "offset": scan.offset,
                                  "head_len": head_len, "head_crc": _head_crc(f, head_len),
                                  "latest": {t: _cacheable(p) for t, p in latest.items()},
                                  "plugins": scan.plugins}  # fmt: skip
            for t, raw in new_cache[key]["latest"].items():
                point = (int(raw[0]), float(raw[1]), float(raw[2]))
                if newer(merged.get(t), point):
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
            yield from _file_points(run, f, wanted)


def _file_points(
    run: str, path: Path, wanted: list[str] | None
) -> Iterator[tuple[str, str, int, float, float]]:
    """One file's points in file order, decoded into arrays first (:mod:`ztbkit.data.tb_series`)."""
    import numpy as np

    from ztbkit.data.tb_series import read_file

    scan = read_file(path, 0, set(wanted) if wanted is not None else None)
    if (
        scan.order_tags is None
        or scan.order_steps is None
        or scan.order_walls is None
        or scan.order_values is None
    ):
        return
    ids, steps, walls, values = scan.order_tags, scan.order_steps, scan.order_walls, scan.order_values
    if wanted is not None:
        keep = np.isin(ids, [i for i, t in enumerate(scan.tags) if t in wanted])
        ids, steps, walls, values = ids[keep], steps[keep], walls[keep], values[keep]
    names = scan.tags
    for i, step, wall, value in zip(
        ids.tolist(), steps.tolist(), walls.tolist(), values.tolist(), strict=True
    ):
        yield run, names[i], step, wall, value


def scalars_frame(run_dir: str | os.PathLike[str], tags: Iterable[str] | None = None) -> pd.DataFrame:
    """All scalar points as a DataFrame (run, tag, step, wall_time, value), for notebooks."""
    import pandas as pd

    return pd.DataFrame(
        list(iter_points(run_dir, tags)), columns=["run", "tag", "step", "wall_time", "value"]
    )


def dumps(result: ScrapeResult) -> str:
    return json.dumps(result.to_json(), indent=2, allow_nan=False)
