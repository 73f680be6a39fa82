"""The all-clear digest: the sign of life a trader looks for (``ztb digest``, template ``digest-daily``).

For a period of JST days — ``day`` (default: yesterday), ``week`` (the 7 days ending on ``--date``),
``month`` (the 1st of ``--date``'s month to ``--date``) — it says: realised P&L per pair (what
``ztb watch`` saw last in stats.json each day), training sessions finished and failed with the best
Sharpe/DSR and their cost in yen, alerts fired and resolved (silenced ones counted apart), the
silences active now; and **"all clear"** when nothing fired. The digest reads what ``ztb watch``
recorded in ``<state-dir>/.ztb/``: without a watch running there is little to say, and it says so.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from ztbkit.core.clock import default_tz
from ztbkit.core.errors import UsageError, ZtbError
from ztbkit.core.formatting import yen
from ztbkit.watch.lifecycle import load_state, read_events
from ztbkit.watch.silences import load_silences

PERIODS = ("day", "week", "month")


@dataclass(slots=True)
class Digest:
    first: date
    last: date
    pnl: dict[str, float] = field(default_factory=dict)
    days_with_pnl: int = 0
    finished: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    fired: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    silenced: int = 0
    silences: list[str] = field(default_factory=list)
    watched: bool = True

    @property
    def all_clear(self) -> bool:
        """Nothing fired and no session failed, *and* a watch was there to see it (no state: not clear)."""
        return self.watched and not self.fired and not self.failed

    def lines(self) -> list[str]:
        span = f"{self.first}" if self.first == self.last else f"{self.first} – {self.last}"
        verdict = (f"{len(self.fired)} alert(s) fired, {len(self.failed)} session(s) failed" if self.watched
                   else "not watched")  # fmt: skip
        out = [f"ztbkit digest {span} (JST): " + ("all clear" if self.all_clear else verdict)]
        if not self.watched:
            out.append("ztb watch was not running in this period: nothing was watched (is it scheduled?)")
        if self.pnl:
            total = sum(self.pnl.values())
            out.append(
                f"P&L {yen(total)}: " + ", ".join(f"{k} {yen(v)}" for k, v in sorted(self.pnl.items()))
            )
        else:
            out.append("P&L: no stats.json seen for these days")
        best = max(
            (s for s in self.finished if s.get("sharpe") is not None), key=lambda s: s["sharpe"], default=None
        )
        cost = sum(s.get("cost_jpy") or 0 for s in self.finished + self.failed)
        out.append(f"training: {len(self.finished)} finished, {len(self.failed)} failed"
                   + (f"; best {best['subject']} Sharpe {best['sharpe']:.2f}"
                      + (f" DSR {best['dsr']:.2f}" if best.get("dsr") is not None else "") if best else "")
                   + f"; cost {yen(cost)}")  # fmt: skip
        out.append(f"alerts: {len(self.fired)} fired, {len(self.resolved)} resolved"
                   + (f", {self.silenced} silenced" if self.silenced else ""))  # fmt: skip
        out += [f"  fired: {a['rule']} · {a['subject']}: {a['summary'][:160]}" for a in self.fired[:10]]
        out += [f"  failed: {s['subject']}: {s['summary'][:160]}" for s in self.failed[:5]]
        out.append("silences active: " + (", ".join(self.silences) if self.silences else "none"))
        return out


def period_days(period: str, when: date) -> tuple[date, date]:
    if period not in PERIODS:
        raise UsageError(f"--period: expected one of {', '.join(PERIODS)}, got {period!r}")
    if period == "day":
        return when, when
    if period == "week":
        if when.toordinal() < 7:  # date.min + 6 days: the week would start before 0001-01-01
            raise UsageError(f"--date: {when}: a week ending then starts before the year 1")
        return when - timedelta(days=6), when
    return when.replace(day=1), when


def build_digest(ztb_dir: Path, first: date, last: date, now: datetime) -> Digest:
    d = Digest(first, last, watched=(ztb_dir / "watch-state.json").exists())
    tz = default_tz()
    state = load_state(ztb_dir, lambda _m: None, set_aside=False) if d.watched else {"memory": {}}
    since = state.get("watching_since")
    if isinstance(since, str):  # a watch that started after the period saw none of it
        with contextlib.suppress(ValueError, OverflowError):
            d.watched = datetime.fromisoformat(since).astimezone(tz).date() <= last
    for day, pairs in sorted((state["memory"].get("pnl") or {}).items()):
        if isinstance(pairs, dict) and first.isoformat() <= day <= last.isoformat():
            d.days_with_pnl += 1
            for pair, value in pairs.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    d.pnl[pair] = d.pnl.get(pair, 0.0) + float(value)
    for m in read_events(ztb_dir):
        try:
            day = datetime.fromisoformat(m["at"]).astimezone(tz).date()
        except (ValueError, TypeError, OverflowError):  # a hand-edited line near year 1 or 9999
            continue
        if not first <= day <= last:
            continue
        data = m.get("data")
        row = {"rule": m.get("rule", "?"), "subject": str(m.get("subject", "?")), "summary": str(m.get("summary", "")),
               **(data if isinstance(data, dict) else {})}  # fmt: skip
        if m.get("silenced"):
            d.silenced += 1
        elif m["kind"] == "firing" or (m["kind"] == "event" and m.get("severity") == "urgent"
                                       and m.get("rule") != "training_failed"):  # fmt: skip
            d.fired.append(row)
        elif m["kind"] == "resolved":
            d.resolved.append(row)
        if m["kind"] == "event" and m.get("rule") == "training_finished":
            d.finished.append(row)
        elif m["kind"] == "event" and m.get("rule") == "training_failed":
            d.failed.append(row)
    try:
        d.silences = [f"{s.matcher} until {datetime.fromisoformat(s.ends).astimezone(tz):%m-%d %H:%M} ({s.id})"
                      for s in load_silences(ztb_dir) if s.active(now)]  # fmt: skip
    except ZtbError:  # an unreadable silences file: shown as none, ztb watch warns about it
        d.silences = []
    return d


def digest_alert(d: Digest, now: datetime) -> Any:
    from ztbkit.notify.alert import Alert

    lines = d.lines()
    title = ("✅ " if d.all_clear else "⚠️ ") + lines[0]
    return Alert(title[:250], "INFO" if d.all_clear else "WARN", "\n".join(lines[1:])[:3500],
                 footer="ztb digest", timestamp=now)  # fmt: skip
