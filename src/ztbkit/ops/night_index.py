"""The night-over-night index: ``<out-dir>/index.html`` and ``index.md``, rewritten by each nightly.

Policy (users depend on it):

* Each nightly writes ``<out-dir>/<YYYY-MM-DD>/night.json`` (what that night saw, shape below), then
  rewrites the index from every ``night.json`` under ``<out-dir>``: one line per night, newest first,
  with links to that night's reports; and, for the newest night, what changed since the night
  before it (the one with the latest earlier date).
* The changes: **new** sessions (not there the night before), **finished** (running then, neither
  running nor failed now), **failed** (status ``failed`` now, not then), the **best** Sharpe and DSR then and
  now (the bot's ``rl_sharpe``/``dsr``, highest over all sessions), the **cost of the day** (the yen
  of every cost estimate now minus the yen then: what was recorded since the night before), **gates**
  that started or stopped failing (``session:gate``), and the **alerts sent** by the nightly's
  trend-alert step.
* The nightly's summary line says the same in one line (:func:`summary_line`): always in English, the
  shape docs/FORMATS.md gives (log readers match it). The index pages are for people: they speak the
  run's language (``--lang``, ``ZTB_LANG``, the locale), and a Japanese page carries the glyphs it uses
  (:mod:`ztbkit.reports.webfont`).
* A ``night.json`` that cannot be read is skipped (its night is listed without changes); the index
  files are written atomically.

``night.json``: ``{"version": 1, "date", "sessions": {id: {"status", "rl_sharpe", "dsr",
"cost_jpy", "failing_gates": [names]}}, "reports": [file names], "alerts": [lines], "steps_failed": n}``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ztbkit.core.fsio import atomic_write_json, atomic_write_text
from ztbkit.core.jsonread import read_json_if_exists
from ztbkit.data.session import Session
from ztbkit.locale import N_, _, current_language, ngettext
from ztbkit.money.budget import read_cost

NIGHT_FILE = "night.json"


def night_record(day: str, sessions: Sequence[Session], reports: Sequence[str], alerts: Sequence[str],
                 steps_failed: int) -> dict[str, Any]:  # fmt: skip
    """What one night saw (the ``night.json`` document)."""
    rows: dict[str, Any] = {}
    for s in sessions:
        if not s.on_disk:
            continue
        total, _hours, _source = read_cost(s.cost_estimate)
        rows[s.session_id] = {
            "status": s.status,
            "rl_sharpe": s.rl_sharpe,
            "dsr": s.dsr,
            "cost_jpy": total,
            "failing_gates": [g.name for g in s.gates.failures] if s.gates else [],
        }
    return {"version": 1, "date": day, "sessions": rows, "reports": list(reports), "alerts": list(alerts),
            "steps_failed": steps_failed}  # fmt: skip


@dataclass(slots=True)
class Changes:
    since: str
    new: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    best_sharpe: tuple[float | None, float | None] = (None, None)
    best_dsr: tuple[float | None, float | None] = (None, None)
    cost_jpy: float = 0.0
    gates_started: list[str] = field(default_factory=list)
    gates_stopped: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)


def _best(night: dict[str, Any], key: str) -> float | None:
    vals = [r.get(key) for r in night["sessions"].values()]
    nums = [float(v) for v in vals if isinstance(v, int | float) and not isinstance(v, bool)]
    return max(nums) if nums else None


def _failing(night: dict[str, Any]) -> set[str]:
    return {f"{sid}:{g}" for sid, r in night["sessions"].items() for g in r.get("failing_gates") or []}


def _cost(night: dict[str, Any]) -> float:
    return sum(
        float(r["cost_jpy"]) for r in night["sessions"].values() if isinstance(r.get("cost_jpy"), int | float)
    )


def changes(before: dict[str, Any], now: dict[str, Any]) -> Changes:
    """What changed from night ``before`` to night ``now`` (see the module docstring)."""
    old, cur = before["sessions"], now["sessions"]
    c = Changes(since=before["date"])
    c.new = sorted(set(cur) - set(old))
    c.finished = sorted(
        sid
        for sid, r in cur.items()
        if sid in old and old[sid].get("status") == "running" and r.get("status") not in ("running", "failed")
    )
    c.failed = sorted(
        sid
        for sid, r in cur.items()
        if r.get("status") == "failed" and (old.get(sid) or {}).get("status") != "failed"
    )
    c.best_sharpe = (_best(before, "rl_sharpe"), _best(now, "rl_sharpe"))
    c.best_dsr = (_best(before, "dsr"), _best(now, "dsr"))
    c.cost_jpy = round(_cost(now) - _cost(before), 2)
    c.gates_started = sorted(_failing(now) - _failing(before))
    c.gates_stopped = sorted(_failing(before) - _failing(now))
    c.alerts = list(now.get("alerts") or [])
    return c


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


#: The one-line summary; English in the step line (FORMATS.md), translated on the index pages.
SUMMARY = N_("since {since}: {new} new, {finished} finished, {failed} failed; best Sharpe {sharpe0} → {sharpe1}, "
             "DSR {dsr0} → {dsr1}; cost of the day {cost}; gates {started} started failing, {stopped} stopped; "
             "{alerts} alert(s) sent")  # fmt: skip


def _summary(c: Changes, template: str) -> str:
    return template.format(since=c.since, new=len(c.new), finished=len(c.finished), failed=len(c.failed),
                           sharpe0=_num(c.best_sharpe[0]), sharpe1=_num(c.best_sharpe[1]), dsr0=_num(c.best_dsr[0]),
                           dsr1=_num(c.best_dsr[1]), cost=f"¥{c.cost_jpy:,.0f}", started=len(c.gates_started),
                           stopped=len(c.gates_stopped), alerts=len(c.alerts))  # fmt: skip


def summary_line(c: Changes) -> str:
    """The changes in one line (the nightly prints it; machine-stable order of fields, English)."""
    return _summary(c, SUMMARY)


def summary_text(c: Changes) -> str:
    """The same line in the run's language, for the index pages."""
    return _summary(c, _(SUMMARY))


def read_nights(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every readable ``night.json`` under ``out_dir``, oldest first."""
    nights = []
    try:
        names = sorted(e.name for e in os.scandir(out_dir) if e.is_dir() and len(e.name) == 10)
    except OSError:
        return []
    for name in names:
        read = read_json_if_exists(Path(out_dir) / name / NIGHT_FILE)
        doc = read.value if read is not None and read.ok else None
        if isinstance(doc, dict) and isinstance(doc.get("sessions"), dict) and doc.get("date") == name:
            nights.append(doc)
    return nights


def _lists(c: Changes) -> list[tuple[str, list[str]]]:
    return [(_("New sessions"), c.new), (_("Finished"), c.finished), (_("Failed sessions"), c.failed),
            (_("Gates that started failing"), c.gates_started), (_("Gates that stopped failing"), c.gates_stopped),
            (_("Alerts sent"), c.alerts)]  # fmt: skip


def _item(title: str, items: Sequence[str]) -> str:
    return _("{title}: {items}").format(title=title, items=", ".join(items) if items else _("none"))


def _night(n: dict[str, Any], links: str) -> str:
    count = len(n["sessions"])
    sessions = ngettext("{n} session", "{n} sessions", count).format(n=count)
    return _("({sessions}): {links}").format(sessions=sessions, links=links or _("no reports"))


def index_markdown(nights: Sequence[dict[str, Any]], c: Changes | None) -> str:
    title = _("Nightly reports")
    lines = [f"# {title}", ""]
    if c is not None:
        changed = _("{date}: what changed").format(date=nights[-1]["date"])
        lines += [f"## {changed} {summary_text(c)}", ""]
        lines += [f"- {_item(title, items)}" for title, items in _lists(c)]
        lines.append("")
    nights_title = _("Nights")
    lines += [f"## {nights_title}", ""]
    for n in reversed(nights):
        links = " · ".join(f"[{r}]({n['date']}/{r})" for r in n.get("reports", []))
        lines.append(f"- **{n['date']}** {_night(n, links)}")
    return "\n".join(lines) + "\n"


def index_html(nights: Sequence[dict[str, Any]], c: Changes | None) -> str:
    from ztbkit.reports.webfont import FONT_STACK, with_page_font

    e = html.escape
    title = e(_("Nightly reports"))
    parts = [f"<!DOCTYPE html><html lang='{current_language()}'><head><meta charset='utf-8'><title>{title}</title>",
             f"<style>body{{font-family:{FONT_STACK};max-width:70em;margin:1em auto;padding:0 1em}}"
             "li{margin:.2em 0}.changes{background:#f3f4f6;padding:.5em 1em;border-radius:6px}</style>",
             f"</head><body><h1>{title}</h1>"]  # fmt: skip
    if c is not None:
        changed = _("{date}: what changed").format(date=nights[-1]["date"])
        parts.append(f"<section class='changes' id='changes'><h2>{e(changed)}</h2>"
                     f"<p class='summary'>{e(summary_text(c))}</p><ul>")  # fmt: skip
        parts += [f"<li>{e(_item(title, items))}</li>" for title, items in _lists(c)]
        parts.append("</ul></section>")
    nights_title = _("Nights")
    parts.append(f"<h2>{e(nights_title)}</h2><ul id='nights'>")
    for n in reversed(nights):
        links = " · ".join(f"<a href='{e(n['date'])}/{e(r)}'>{e(r)}</a>" for r in n.get("reports", []))
        count = len(n["sessions"])
        sessions = ngettext("{n} session", "{n} sessions", count).format(n=count)
        tail = _("({sessions}): {links}").format(sessions=e(sessions), links=links or e(_("no reports")))
        parts.append(f"<li><b>{e(n['date'])}</b> {tail}</li>")
    parts.append("</ul></body></html>\n")
    return with_page_font("".join(parts))


def write_night_and_index(out_dir: str | os.PathLike[str], record: dict[str, Any]) -> Changes | None:
    """Write this night's ``night.json``, then rewrite the index; the changes since the night before."""
    out = Path(out_dir)
    atomic_write_json(out / record["date"] / NIGHT_FILE, record)
    nights = [n for n in read_nights(out) if n["date"] <= record["date"]] or [record]
    later = [n for n in read_nights(out) if n["date"] > record["date"]]
    every = nights + later
    c = changes(nights[-2], nights[-1]) if len(nights) >= 2 and not later else None
    if later:  # a catch-up run for an older date: the index still describes the newest night
        c = changes(every[-2], every[-1]) if len(every) >= 2 else None
    atomic_write_text(out / "index.md", index_markdown(every, c))
    atomic_write_text(out / "index.html", index_html(every, c))
    if len(nights) >= 2:
        return changes(nights[-2], nights[-1])
    return None
