"""The live bot status snapshot: trade-state.json, trade-config.json and stats.json → one embed.

Title ``🤖 Live Bot Status Snapshot``; fields ``📊 Trade State``, ``⚙️ Configuration``,
``📈 Performance Summary`` (totals over pairs, P&L as ``¥20,000``), then one field per pair. A missing
or unreadable file drops its field (and is noted in the footer), never the message.

A pair's numbers follow the artifacts' rule (:mod:`ztbkit.core.values`): trades and wins are whole and
non-negative, P&L and drawdown finite. A bad one is a warning naming stats.json and the key, is shown
as ``—``, and (for trades, wins, P&L) leaves its pair out of every total; the summary names it under
``Not counted``, so that no total is silently short.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ztbkit.core.errors import Reason
from ztbkit.core.formatting import yen
from ztbkit.core.fsio import atomic_write_json
from ztbkit.core.jsonread import Problem, read_json, read_json_if_exists
from ztbkit.core.statedir import ztb_dir
from ztbkit.core.values import check_count, check_number
from ztbkit.locale import _, lazy

if TYPE_CHECKING:  # the embed is built only by status_alert: ztb watch reads the files without it
    from ztbkit.notify.alert import Alert, Field

#: English as FORMATS.md gives it (and every field name below); with --lang ja the same embed in Japanese.
TITLE = lazy("🤖 Live Bot Status Snapshot")
FILES = ("trade-state.json", "trade-config.json", "stats.json")
EDIT_STATE = "live-status.json"  # in ztbkit's folder (ztbkit.core.statedir)


@dataclass(slots=True)
class PairStats:
    pair: str
    stats: dict[str, Any]  # trades, wins, realizedPnl, maxDrawdown checked: a bad value is None
    counted: bool  # False when trades, wins or P&L was bad: the pair is left out of the totals


@dataclass(slots=True)
class LiveState:
    state: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)
    pairs: list[PairStats] = field(default_factory=list)


def load_live_state(state_dir: str | os.PathLike[str]) -> LiveState:
    out = LiveState()
    for name, attr in zip(FILES, ("state", "config", "stats"), strict=True):
        read = read_json_if_exists(Path(state_dir) / name)
        if read is None:
            continue
        if read.problem is not None:
            out.problems.append(read.problem)
        elif not isinstance(read.value, dict):
            out.problems.append(Problem(str(Path(state_dir) / name), Reason("expected a JSON object")))
        else:
            setattr(out, attr, read.value)
    if out.stats is not None:
        out.pairs = _checked_pairs(out.stats, str(Path(state_dir) / "stats.json"), out.problems)
    return out


def _checked_pairs(stats: dict[str, Any], file: str, problems: list[Problem]) -> list[PairStats]:
    rows = []
    data = stats.get("data")
    for i, item in enumerate(data if isinstance(data, list) else []):
        if not (isinstance(item, dict) and isinstance(item.get("stats"), dict)):
            continue
        raw, checked, bad = item["stats"], dict(item["stats"]), set()
        for key, check in (("trades", check_count), ("wins", check_count), ("realizedPnl", check_number),
                           ("maxDrawdown", check_number)):  # fmt: skip
            checked[key] = check(raw.get(key), f"data[{i}].stats.{key}", problems, file)
            if checked[key] is None and raw.get(key) is not None:
                bad.add(key)
        rows.append(
            PairStats(str(item.get("pair", "?")), checked, not bad & {"trades", "wins", "realizedPnl"})
        )
    return rows


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _lines(pairs: list[tuple[str, Any]]) -> str:
    return "\n".join(f"{k}: {_show(v)}" for k, v in pairs)


def status_fields(live: LiveState) -> list[Field]:
    from ztbkit.notify.alert import Field

    fields = []
    if live.state is not None:
        s = live.state
        fields.append(Field(_("📊 Trade State"), _lines([
            (_("Phase"), s.get("phase")), (_("Consecutive Days"), s.get("consecutiveDays")),
            (_("Total Success"), s.get("totalSuccess")), (_("Last Date"), s.get("lastDate")),
            (_("Orders Per Day"), s.get("ordersPerDay")),
        ]), True))  # fmt: skip
    if live.config is not None:
        c = live.config
        fields.append(Field(_("⚙️ Configuration"), _lines([
            (_("Active Pair"), c.get("pair")), (_("Phase"), c.get("phase")), (_("Max Orders/Day"), c.get("maxOrdersPerDay")),
            (_("Max Loss/Day"), c.get("maxLossPerDay")), (_("Slippage Guard %"), c.get("slippageGuardPct")),
        ]), True))  # fmt: skip
    if live.stats is not None:
        counted = [p.stats for p in live.pairs if p.counted]
        trades = sum(r["trades"] or 0 for r in counted)
        wins = sum(r["wins"] or 0 for r in counted)
        pnl = sum(r["realizedPnl"] or 0 for r in counted)
        rate = f"{wins / trades:.1%}" if trades else "—"
        uncounted = ", ".join(p.pair for p in live.pairs if not p.counted)
        fields.append(Field(_("📈 Performance Summary"), _lines([
            (_("Date"), live.stats.get("date")), (_("Total Trades"), int(trades)), (_("Total Wins"), int(wins)),
            (_("Win Rate"), rate), (_("Total P&L"), yen(pnl)), *([(_("Not counted"), uncounted)] if uncounted else []),
        ]), False))  # fmt: skip
        for p in live.pairs:
            pair, r, pnl_pair, dd = p.pair, p.stats, p.stats["realizedPnl"], p.stats["maxDrawdown"]
            fields.append(Field(f"💱 {pair}", _lines([
                (_("Trades"), r.get("trades")), (_("Wins"), r.get("wins")),
                (_("P&L"), yen(pnl_pair) if pnl_pair is not None else None),
                (_("Max Drawdown"), yen(dd) if dd is not None else None),
            ]), True))  # fmt: skip
    return fields


def status_alert(live: LiveState, state_dir: str | os.PathLike[str], *, now: datetime | None = None) -> Alert:
    from ztbkit.notify.alert import Alert

    fields = status_fields(live)
    missing = [n for n, v in zip(FILES, (live.state, live.config, live.stats), strict=True) if v is None]
    footer = "ztbkit live-status" + (
        _(" · missing: {files}").format(files=", ".join(missing)) if missing else ""
    )
    description = "" if fields else _("No readable state files in {folder}.").format(folder=state_dir)
    return Alert(str(TITLE), "INFO", description, tuple(fields), footer=footer, timestamp=now)


def url_hash(url: str) -> str:
    """A short, stable name for a webhook that does not reveal it."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def saved_message_id(state_dir: str | os.PathLike[str], url: str) -> str | None:
    """The id of the status message this webhook posted last (by a hash of the URL, never the URL)."""
    path = ztb_dir(state_dir) / EDIT_STATE
    if not path.exists():
        return None
    read = read_json(path)
    doc = read.value if read.ok and isinstance(read.value, dict) else {}
    if doc.get("webhook") != url_hash(url) or not isinstance(doc.get("message_id"), str):
        return None
    return str(doc["message_id"])


def save_message_id(state_dir: str | os.PathLike[str], url: str, message_id: str) -> None:
    atomic_write_json(ztb_dir(state_dir) / EDIT_STATE, {"webhook": url_hash(url), "message_id": message_id})
