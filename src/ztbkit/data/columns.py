"""Sessions as columns and Parquet bytes: the schema the snapshot and the load cache share.

Schema (version :data:`SCHEMA_VERSION`), one row per session:

========================  ==========  ========================================================
column                    type        meaning
========================  ==========  ========================================================
session_id                string      the folder name (or the index id of a missing folder)
folder                    string      the session folder path or URL; null: index entry only
on_disk, in_index,        bool        as in :class:`ztbkit.data.session.Session`
stopped, is_best
status, eta,              string      normalised status; ETA text; where the duration came
duration_source,                      from; run_metadata.json's shape
run_metadata_shape
start_time                string      ISO 8601 with its UTC offset (kept exactly)
global_step, gpu_count    int64       null when missing or invalid (or past 64 bits: see big_ints)
rl_sharpe, dsr, p_value,  float64     null when missing or invalid
rss_peak_mb,
memory_peak_mb,
duration_seconds,
steps_per_sec
summary, metrics,         string      the documents as JSON text (NaN kept as ``NaN``)
run_metadata,                         (hparams: the flat ``{name: value}`` of
cost_estimate,                        :mod:`ztbkit.data.hparams`, from version 2)
hparams
gates                     string      JSON ``{"declared_pass": b, "results": [[name, status,
                                      reason, critical], ...]}``; null: no gates file
issues                    string      JSON ``[[path, reason], ...]``
big_ints                  string      JSON ``{column: "digits"}`` for integers past 64 bits; else null
========================  ==========  ========================================================

A reason is text, or a translated one as ``[template, values, words]``
(:meth:`ztbkit.core.errors.Reason.to_json`), so a cached warning is still said in the reader's language.

File metadata key ``ztbkit.snapshot`` holds JSON ``{"version", "root", "issues"}`` (tree-level
problems). A file that cannot be read, or whose version or root differs, is ignored with a warning
and the caller loads the tree itself: a snapshot can make a report faster, never wrong.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from ztbkit.core.jsonread import Problem
from ztbkit.data.gates import GateReport, GateResult
from ztbkit.data.session import Session

#: 3: a reason in ``issues`` may be a translated one (``[template, values, words]``), which version 2 could not read.
SCHEMA_VERSION = 3
META_KEY = b"ztbkit.snapshot"

_BOOLS = ("on_disk", "in_index", "stopped", "is_best")
_TEXTS = ("status", "eta", "duration_source", "run_metadata_shape")
_INTS = ("global_step", "gpu_count")
_FLOATS = (
    "rl_sharpe",
    "dsr",
    "p_value",
    "rss_peak_mb",
    "memory_peak_mb",
    "duration_seconds",
    "steps_per_sec",
)
_DOCS = ("summary", "metrics", "run_metadata", "cost_estimate", "hparams")


class SnapshotWarning(UserWarning):
    """A snapshot or cache file was ignored (unreadable, another schema version, another tree)."""


def _dumps(value: Any) -> str:
    # The standard library, not orjson: documents may hold NaN and integers past 64 bits.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if utf8_ok(text):
        return text
    # A lone surrogate (a non-UTF-8 folder name, a "\udcff" escape in a bot file): escaped, lossless.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def utf8_ok(text: str) -> bool:
    """True when ``text`` can be written as UTF-8 (no lone surrogates from undecodable names)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable(value: Any) -> Any:
    """A string Parquet can hold: lone surrogates (from non-UTF-8 names) become U+FFFD. Used for plain
    text columns; a folder changed this way no longer matches its real name, so the load cache just
    parses that session again and a notebook finds no TensorBoard curves under it."""
    if isinstance(value, str) and not utf8_ok(value):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _loads(text: str) -> Any:
    import orjson

    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # NaN literals, huge integers


def _gates(report: GateReport | None) -> str | None:
    if report is None:
        return None
    rows = [[g.name, g.status, g.reason, g.critical] for g in report.results]
    return _dumps({"declared_pass": report.declared_pass, "results": rows})


def sessions_to_columns(sessions: Sequence[Session]) -> dict[str, list[Any]]:
    """The snapshot columns of ``sessions`` (see the module docstring)."""
    cols: dict[str, list[Any]] = {
        "session_id": [s.session_id for s in sessions],
        "folder": [s.folder for s in sessions],
        "start_time": [s.start_time.isoformat() if s.start_time else None for s in sessions],
    }
    for name in (*_BOOLS, *_TEXTS, *_FLOATS):
        cols[name] = [getattr(s, name) for s in sessions]
    big: list[dict[str, str]] = [{} for _ in sessions]
    for name in _INTS:
        cols[name] = []
        for i, s in enumerate(sessions):
            value = getattr(s, name)
            if value is not None and not -(2**63) <= value < 2**63:
                big[i][name], value = str(value), None
            cols[name].append(value)
    cols["big_ints"] = [_dumps(b) if b else None for b in big]
    for name in _DOCS:
        cols[name] = [None if getattr(s, name) is None else _dumps(getattr(s, name)) for s in sessions]
    cols["gates"] = [_gates(s.gates) for s in sessions]
    cols["issues"] = [_dumps([p.to_json() for p in s.issues]) for s in sessions]
    return cols


def _lazy_doc(name: str) -> property:
    """``SnapshotSession.<name>``: the document parsed from its JSON text on first access, then kept."""
    slot = getattr(Session, name)  # the dataclass's own slot, under this property

    def get(self: SnapshotSession) -> Any:
        texts = getattr(self, "_texts", None)  # unset in a copy or unpickled session: all parsed
        if texts and name in texts:
            text = texts.pop(name)
            if name == "gates":  # a GateReport: most reports never look at the gates
                slot.__set__(self, _gate_report(text))
            else:
                slot.__set__(
                    self, _loads(text) if text is not None else (None if name == "cost_estimate" else {})
                )
        return slot.__get__(self, type(self))

    def set_(self: SnapshotSession, value: Any) -> None:
        texts = getattr(self, "_texts", None)
        if texts:
            texts.pop(name, None)
        slot.__set__(self, value)

    return property(get, set_)


class SnapshotSession(Session):
    """A :class:`Session` read from a snapshot or the load cache. Its documents (summary, metrics,
    run_metadata, cost_estimate, and the gates) stay JSON text until first used: most reports read few of them, and
    parsing all of them was most of a 10,000-session notebook's load time. Equal to, and used like,
    a freshly loaded Session."""

    __slots__ = ("_texts",)
    _texts: dict[str, str | None]

    summary = _lazy_doc("summary")
    metrics = _lazy_doc("metrics")
    run_metadata = _lazy_doc("run_metadata")
    cost_estimate = _lazy_doc("cost_estimate")
    hparams = _lazy_doc("hparams")
    gates = _lazy_doc("gates")

    def __eq__(self, other: object) -> bool:  # as a Session: field by field, whichever class
        if not isinstance(other, Session):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(Session))

    __hash__ = None  # type: ignore[assignment]  # mutable, like Session

    def __getstate__(self) -> tuple[None, dict[str, Any]]:  # copy/pickle: the documents parsed first
        return None, {f.name: getattr(self, f.name) for f in fields(Session)}


def _gate_report(text: str | None) -> GateReport | None:
    if text is None:
        return None
    doc = _loads(text)
    return GateReport([GateResult(*r) for r in doc["results"]], doc["declared_pass"])


def columns_to_sessions(cols: dict[str, list[Any]], rows: Iterable[int] | None = None) -> list[Session]:
    """Sessions back from snapshot columns (all rows, or only ``rows``)."""
    out: list[Session] = []
    plain = [
        (name, cols[name]) for name in (*_BOOLS, *_TEXTS, *_INTS, *_FLOATS)
    ]  # looked up once, not per row
    docs = [(name, cols[name]) for name in _DOCS]
    ids, folders, starts, gate_col, issue_col = (cols[n] for n in ("session_id", "folder", "start_time", "gates",
                                                                    "issues"))  # fmt: skip
    for i in rows if rows is not None else range(len(ids)):
        s = SnapshotSession(session_id=ids[i], folder=folders[i])
        for name, col in plain:
            setattr(s, name, col[i])
        start = starts[i]
        s.start_time = datetime.fromisoformat(start) if start else None
        s._texts = {name: col[i] for name, col in docs}
        s._texts["gates"] = gate_col[i]
        issues = issue_col[i]
        s.issues = [] if issues == "[]" else [Problem(p, r) for p, r in _loads(issues)]
        if cols["big_ints"][i] is not None:
            for name, digits in _loads(cols["big_ints"][i]).items():
                setattr(s, name, int(digits))
        out.append(s)
    return out


def _schema() -> Any:
    import pyarrow as pa

    fields = [("session_id", pa.string()), ("folder", pa.string()), ("start_time", pa.string())]
    fields += [(n, pa.bool_()) for n in _BOOLS] + [(n, pa.string()) for n in _TEXTS]
    fields += [(n, pa.int64()) for n in _INTS] + [(n, pa.float64()) for n in _FLOATS]
    fields += [(n, pa.string()) for n in (*_DOCS, "gates", "issues", "big_ints")]
    return pa.schema(fields)


def to_parquet_bytes(
    cols: dict[str, list[Any]], meta: dict[str, Any], extra: dict[str, Any] | None = None
) -> bytes:
    """Parquet bytes of ``cols`` (plus ``extra`` string columns) with ``meta`` as file metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    for name in extra or {}:
        schema = schema.append(pa.field(name, pa.string()))
    data = {name: [_storable(v) for v in col] for name, col in {**cols, **(extra or {})}.items()}
    table = pa.table(data, schema=schema.with_metadata({META_KEY: _dumps(meta).encode()}))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def read_parquet(
    path: str | os.PathLike[str], what: str
) -> tuple[dict[str, list[Any]], dict[str, Any]] | None:
    """(columns, metadata) of a snapshot-shaped file, or None with a warning when unusable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(os.fspath(path))
        meta = json.loads((table.schema.metadata or {})[META_KEY])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        warnings.warn(f"{what} {os.fspath(path)} ignored: unreadable ({exc})", SnapshotWarning, stacklevel=3)
        return None
    if not isinstance(meta, dict) or meta.get("version") != SCHEMA_VERSION:
        version = meta.get("version") if isinstance(meta, dict) else None
        warnings.warn(f"{what} {os.fspath(path)} ignored: schema version {version!r}, this ztbkit reads "
                      f"{SCHEMA_VERSION}", SnapshotWarning, stacklevel=3)  # fmt: skip
        return None
    return table.to_pydict(), meta
