"""The live bot status snapshot: trade-state.json, trade-config.json and stats.json → one embed.

Title ``🤖 Live Bot Status Snapshot``; fields ``📊 Trade State``, ``⚙️ Configuration``,
``📈 Performance Summary`` (totals over pairs, P&L as ``¥20,000``), then one field per pair. A missing
or unreadable file drops its field (and is noted in the footer), never the message.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ztbkit.costs import yen
from ztbkit.fsio import Problem, atomic_write_json, read_json, read_json_if_exists
from ztbkit.notify.alert import Alert, Field

TITLE = "🤖 Live Bot Status Snapshot"
FILES = ("trade-state.json", "trade-config.json", "stats.json")
EDIT_STATE = Path(".ztb") / "live-status.json"


@dataclass(slots=True)
class LiveState:
    state: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)


def load_live_state(state_dir: str | os.PathLike[str]) -> LiveState:
    out = LiveState()
    for name, attr in zip(FILES, ("state", "config", "stats"), strict=True):
        read = read_json_if_exists(Path(state_dir) / name)
        if read is None:
            continue
        if read.problem is not None:
            out.problems.append(read.problem)
        elif not isinstance(read.value, dict):
            out.problems.append(Problem(str(Path(state_dir) / name), "expected a JSON object"))
        else:
            setattr(out, attr, read.value)
    return out


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


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


def _pair_rows(stats: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for item in stats.get("data", []) if isinstance(stats.get("data"), list) else []:
        if isinstance(item, dict) and isinstance(item.get("stats"), dict):
            rows.append((str(item.get("pair", "?")), item["stats"]))
    return rows


def status_fields(live: LiveState) -> list[Field]:
    fields = []
    if live.state is not None:
        s = live.state
        fields.append(Field("📊 Trade State", _lines([
            ("Phase", s.get("phase")), ("Consecutive Days", s.get("consecutiveDays")),
            ("Total Success", s.get("totalSuccess")), ("Last Date", s.get("lastDate")),
            ("Orders Per Day", s.get("ordersPerDay")),
        ]), True))  # fmt: skip
    if live.config is not None:
        c = live.config
        fields.append(Field("⚙️ Configuration", _lines([
            ("Active Pair", c.get("pair")), ("Phase", c.get("phase")), ("Max Orders/Day", c.get("maxOrdersPerDay")),
            ("Max Loss/Day", c.get("maxLossPerDay")), ("Slippage Guard %", c.get("slippageGuardPct")),
        ]), True))  # fmt: skip
    if live.stats is not None:
        rows = _pair_rows(live.stats)
        trades = sum(_num(r.get("trades")) or 0 for _, r in rows)
        wins = sum(_num(r.get("wins")) or 0 for _, r in rows)
        pnl = sum(_num(r.get("realizedPnl")) or 0 for _, r in rows)
        rate = f"{wins / trades:.1%}" if trades else "—"
        fields.append(Field("📈 Performance Summary", _lines([
            ("Date", live.stats.get("date")), ("Total Trades", int(trades)), ("Total Wins", int(wins)),
            ("Win Rate", rate), ("Total P&L", yen(pnl)),
        ]), False))  # fmt: skip
        for pair, r in rows:
            pnl_pair, dd = _num(r.get("realizedPnl")), _num(r.get("maxDrawdown"))
            fields.append(Field(f"💱 {pair}", _lines([
                ("Trades", r.get("trades")), ("Wins", r.get("wins")),
                ("P&L", yen(pnl_pair) if pnl_pair is not None else None),
                ("Max Drawdown", yen(dd) if dd is not None else None),
            ]), True))  # fmt: skip
    return fields


def status_alert(live: LiveState, state_dir: str | os.PathLike[str], *, now: datetime | None = None) -> Alert:
    fields = status_fields(live)
    missing = [n for n, v in zip(FILES, (live.state, live.config, live.stats), strict=True) if v is None]
    footer = "ztbkit live-status" + (f" · missing: {', '.join(missing)}" if missing else "")
    description = "" if fields else f"No readable state files in {state_dir}."
    return Alert(TITLE, "INFO", description, tuple(fields), footer=footer, timestamp=now)


def url_hash(url: str) -> str:
    """A short, stable name for a webhook that does not reveal it."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def saved_message_id(state_dir: str | os.PathLike[str], url: str) -> str | None:
    """The id of the status message this webhook posted last (by a hash of the URL, never the URL)."""
    path = Path(state_dir) / EDIT_STATE
    if not path.exists():
        return None
    read = read_json(path)
    doc = read.value if read.ok and isinstance(read.value, dict) else {}
    if doc.get("webhook") != url_hash(url) or not isinstance(doc.get("message_id"), str):
        return None
    return str(doc["message_id"])


def save_message_id(state_dir: str | os.PathLike[str], url: str, message_id: str) -> None:
    atomic_write_json(Path(state_dir) / EDIT_STATE, {"webhook": url_hash(url), "message_id": message_id})
