"""Trends: the per-session metrics table, its CSV and its Markdown report with sparklines.

The CSV is parsed by other tools, so it is exact: header ``session_id,global_step,rl_sharpe,dsr,p_value``,
one row per session *folder* (index-only sessions have no row) sorted by session id in plain string
order, missing or invalid values as empty cells, numbers as Python prints them (``1000``, ``1.5``,
``2.0``). The Markdown starts ``# Trend Report`` and has one ``## <metric>`` section per metric with a
sparkline (``▁▂▃▄▅▆▇█``: min → ``▁``, max → ``█``, a constant series → ``▄``, missing values skipped,
no values → empty) and a table whose rows read ``| <session_id> | <value> |``.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ztbkit.core.clock import SYSTEM_CLOCK, Clock, default_tz
from ztbkit.core.errors import InputFileError, Reason
from ztbkit.core.fsio import atomic_write_text
from ztbkit.core.jsonread import Problem, open_regular
from ztbkit.data.session import Session

METRICS = ("global_step", "rl_sharpe", "dsr", "p_value")
CSV_HEADER = ("session_id", *METRICS)
LEVELS = "▁▂▃▄▅▆▇█"
Number = int | float


@dataclass(frozen=True, slots=True)
class TrendRow:
    session_id: str
    values: dict[str, Number | None]


@dataclass(slots=True)
class TrendTable:
    rows: list[TrendRow]
    source: str = ""
    issues: list[Problem] = field(default_factory=list)

    def series(self, metric: str) -> list[Number | None]:
        return [r.values.get(metric) for r in self.rows]


def trend_table(sessions: Iterable[Session]) -> TrendTable:
    """The trends table of the session folders (index-only sessions are left out), sorted by id."""
    rows = [
        TrendRow(s.session_id, {m: getattr(s, m) for m in METRICS})
        for s in sorted(sessions, key=lambda s: s.session_id)
        if s.on_disk
    ]
    return TrendTable(rows)


def _cell(value: Number | None) -> str:
    return "" if value is None else repr(value)


def trends_csv_text(table: TrendTable) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in table.rows:
        writer.writerow([row.session_id, *(_cell(row.values.get(m)) for m in METRICS)])
    return buf.getvalue()


def write_trends_csv(sessions: Iterable[Session], out: str | os.PathLike[str]) -> TrendTable:
    """Write the trends CSV atomically to ``out`` and return the table written."""
    table = trend_table(sessions)
    atomic_write_text(out, trends_csv_text(table))
    table.source = os.fspath(out)
    return table


def _parse_cell(text: str, where: str, issues: list[Problem], path: str) -> Number | None:
    text = text.strip()
    if not text:
        return None
    try:
        value: Number = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            issues.append(
                Problem(
                    path, Reason("{key}: {value} is not a number; left blank", key=where, value=repr(text))
                )
            )
            return None
    if isinstance(value, float) and not math.isfinite(value):
        issues.append(
            Problem(
                path, Reason("{key}: {value} is not a finite number; left blank", key=where, value=repr(text))
            )
        )
        return None
    return value


def read_trends_csv(path: str | os.PathLike[str]) -> TrendTable:
    """Read a trends CSV back. Bad cells become blanks with an issue; a bad file raises InputFileError."""
    p = os.fspath(path)
    try:
        with io.TextIOWrapper(open_regular(p), encoding="utf-8-sig", newline="") as fh:  # a FIFO cannot block
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InputFileError(
                    "{path}: the trends CSV is empty (expected header {header})",
                    path=p,
                    header=",".join(CSV_HEADER),
                )
            if not header or header[0].strip() != "session_id":
                raise InputFileError(
                    "{path}: first column must be 'session_id', got header {header}", path=p,
                    header=repr(",".join(header)),
                )  # fmt: skip
            cols = [h.strip() for h in header]
            issues: list[Problem] = []
            missing = [m for m in METRICS if m not in cols]
            if missing:
                issues.append(
                    Problem(
                        p, Reason("no column {names}; those sections will be empty", names=", ".join(missing))
                    )
                )
            rows = []
            for lineno, record in enumerate(reader, start=2):
                if not record or not record[0].strip():
                    continue
                values: dict[str, Number | None] = {}
                for m in METRICS:
                    i = cols.index(m) if m in cols else -1
                    cell = record[i] if 0 <= i < len(record) else ""
                    values[m] = _parse_cell(cell, f"line {lineno} {m}", issues, p)
                rows.append(TrendRow(record[0], values))
    except FileNotFoundError as exc:
        raise InputFileError(
            "{path}: trends CSV not found (make it with `ztb trends`, or pass --csv)", path=p
        ) from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError("{path}: cannot read the trends CSV: {error}", path=p, error=str(exc)) from exc
    return TrendTable(rows, source=p, issues=issues)


def sparkline(values: Sequence[Number | None]) -> str:
    """One block per present value: min → ▁, max → █, a constant series → ▄; None is skipped.

    Any finite values work: a range that overflows a float (-1e308 to 1e308) or is too small to
    divide by (subnormal) is scaled exactly, with fractions."""
    present = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not present:
        return ""
    lo, hi = min(present), max(present)
    if hi == lo:
        return LEVELS[3] * len(present)
    scale = (len(LEVELS) - 1) / (hi - lo)
    if not math.isfinite(scale) or scale == 0:
        from fractions import Fraction

        exact = Fraction(len(LEVELS) - 1) / (Fraction(hi) - Fraction(lo))
        return "".join(LEVELS[round((Fraction(v) - Fraction(lo)) * exact)] for v in present)
    return "".join(LEVELS[round((v - lo) * scale)] for v in present)


def _md_text(text: str) -> str:
    """Session ids are untrusted: keep them from breaking the table or becoming HTML."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return " ".join(out.split()) or "(blank)"


def format_number(value: Number | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4f}"


def trends_markdown(table: TrendTable, *, clock: Clock = SYSTEM_CLOCK, now: datetime | None = None) -> str:
    """The Markdown trend report for ``table``."""
    when = (now or clock.now()).astimezone(default_tz())
    lines = ["# Trend Report", ""]
    src = f" from `{table.source}`" if table.source else ""
    lines.append(f"Generated {when:%Y-%m-%d %H:%M %Z}{src}: {len(table.rows)} session(s), oldest first.")
    lines += ["", "| metric | values | min | max | latest | trend |", "|---|---:|---:|---:|---:|---|"]
    for m in METRICS:
        present = [v for v in table.series(m) if v is not None]
        if present:
            cells = [
                str(len(present)),
                format_number(min(present)),
                format_number(max(present)),
                format_number(present[-1]),
            ]
        else:
            cells = ["0", "—", "—", "—"]
        lines.append(f"| {m} | {' | '.join(cells)} | {sparkline(present)} |")
    for m in METRICS:
        series = table.series(m)
        present = [v for v in series if v is not None]
        lines += ["", f"## {m}", ""]
        spark = sparkline(series)
        lines.append(
            f"Trend: {spark} ({len(present)} of {len(series)} sessions have a value)"
            if spark
            else f"No session has a {m} value."
        )
        lines += ["", f"| session_id | {m} |", "|---|---:|"]
        lines += [f"| {_md_text(r.session_id)} | {format_number(r.values.get(m))} |" for r in table.rows]
    return "\n".join(lines) + "\n"


def write_trends_markdown(
    csv_path: str | os.PathLike[str], out: str | os.PathLike[str], *, clock: Clock = SYSTEM_CLOCK
) -> TrendTable:
    """Read the trends CSV at ``csv_path`` and write the Markdown report atomically to ``out``."""
    table = read_trends_csv(csv_path)
    atomic_write_text(out, trends_markdown(table, clock=clock))
    return table


def default_csv_path(artifacts_dir: str | os.PathLike[str]) -> Path:
    return Path(artifacts_dir) / "trends.csv"
