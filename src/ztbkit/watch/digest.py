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
from ztbkit.locale import _
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
        """The digest as people read it, in the run's language (days as :func:`report_day` writes
        them: ``2025-10-31`` in English, ``2025/10/31(金)`` in Japanese); rule ids and session ids as they are."""
        from ztbkit.locale.numbers import report_day

        first, last = report_day(self.first), report_day(self.last)
        span = first if self.first == self.last else f"{first} – {last}"
        verdict = (_("{fired} alert(s) fired, {failed} session(s) failed").format(
            fired=len(self.fired), failed=len(self.failed)) if self.watched else _("not watched"))  # fmt: skip
        out = [_("ztbkit digest {span} (JST): {verdict}").format(
            span=span, verdict=_("all clear") if self.all_clear else verdict)]  # fmt: skip
        if not self.watched:
            out.append(_("ztb watch was not running in this period: nothing was watched (is it scheduled?)"))
        if self.pnl:
            total = sum(self.pnl.values())
            pairs = ", ".join(f"{k} {yen(v)}" for k, v in sorted(self.pnl.items()))
            out.append(_("P&L {total}: {pairs}").format(total=yen(total), pairs=pairs))
        else:
            out.append(_("P&L: no stats.json seen for these days"))
        best = max(
            (s for s in self.finished if s.get("sharpe") is not None), key=lambda s: s["sharpe"], default=None
        )
        cost = sum(s.get("cost_jpy") or 0 for s in self.finished + self.failed)
        training = _("training: {finished} finished, {failed} failed").format(
            finished=len(self.finished), failed=len(self.failed)
        )
        if best:
            training += _("; best {id} Sharpe {sharpe}").format(
                id=best["subject"], sharpe=f"{best['sharpe']:.2f}"
            )
            if best.get("dsr") is not None:
                training += f" DSR {best['dsr']:.2f}"
        out.append(training + _("; cost {cost}").format(cost=yen(cost)))
        alerts = _("alerts: {fired} fired, {resolved} resolved").format(
            fired=len(self.fired), resolved=len(self.resolved)
        )
        if self.silenced:
            alerts += _(", {n} silenced").format(n=self.silenced)
        out.append(alerts)
        out += ["  " + _("fired: {rule} · {subject}: {summary}").format(
            rule=a["rule"], subject=a["subject"], summary=a["summary"][:160]) for a in self.fired[:10]]  # fmt: skip
        out += ["  " + _("failed: {subject}: {summary}").format(subject=s["subject"], summary=s["summary"][:160])
                for s in self.failed[:5]]  # fmt: skip
        out.append(
            _("silences active: {list}").format(list=", ".join(self.silences) if self.silences else _("none"))
        )
        return out


def period_days(period: str, when: date) -> tuple[date, date]:
    if period not in PERIODS:
        raise UsageError(
            "--period: expected one of {choices}, got {value}", choices=", ".join(PERIODS), value=repr(period)
        )
    if period == "day":
        return when, when
    if period == "week":
        if when.toordinal() < 7:  # date.min + 6 days: the week would start before 0001-01-01
            raise UsageError("--date: {day}: a week ending then starts before the year 1", day=when)
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
        d.silences = [_("{matcher} until {ends} ({id})").format(
            matcher=s.matcher, ends=f"{datetime.fromisoformat(s.ends).astimezone(tz):%m-%d %H:%M}", id=s.id)
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
