"""Rules on the live bot's state folder (``[live] state_dir``): stale, missing or unreadable files,
today's loss, a pair's drawdown, a changed trade-config.json.

The files are read with :func:`ztbkit.notify.live.load_live_state` (the same reader as
``ztb live-status``). A missing file, a file that is not JSON, and a value of the wrong type are
each their own alert (``live_missing``, ``live_unreadable``): never a crash, never silence.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ztbkit.core.clock import default_tz
from ztbkit.core.errors import ZtbError
from ztbkit.core.formatting import yen
from ztbkit.core.jsonread import open_regular
from ztbkit.locale import _
from ztbkit.watch.config import WatchConfig
from ztbkit.watch.findings import Findings

WATCHED = ("trade-state.json", "stats.json")
#: trade-state.json keys and the type each must have (FORMATS.md, "Live trading state").
STATE_TYPES: dict[str, type | tuple[type, ...]] = {
    "phase": int, "consecutiveDays": int, "totalSuccess": int, "ordersPerDay": int, "lastDate": str,
}  # fmt: skip
PNL_DAYS_KEPT = 40
MAX_CONFIG_BYTES = 1 << 20


def _wrong_types(state: dict[str, Any]) -> list[str]:
    bad = []
    for key, kind in STATE_TYPES.items():
        value = state.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            bad.append(
                _("{key} is {type} {value}, expected {expected}").format(
                    key=key, type=type(value).__name__, value=repr(str(value)[:20]),
                    expected=getattr(kind, "__name__", kind))
            )  # fmt: skip
    return bad


def live_rules(cfg: WatchConfig, now: datetime, memory: dict[str, Any], out: Findings) -> None:
    from ztbkit.notify.live import load_live_state

    folder = cfg.live_dir
    assert folder is not None
    if not folder.is_dir():
        what = (_("live state folder {folder} is not a folder") if folder.exists()
                else _("live state folder {folder} does not exist"))  # fmt: skip
        out.cond("live_missing", "state_dir", what.format(folder=folder))
        return
    for name in WATCHED:
        path = folder / name
        try:
            mtime = os.stat(path).st_mtime
        except FileNotFoundError:
            out.cond("live_missing", name, _("{path} is missing").format(path=path))
            continue
        except OSError as exc:
            out.cond("live_unreadable", name, f"{path}: {exc.strerror or exc}")
            continue
        age = now.timestamp() - mtime
        if age >= cfg.stale_after_sec:
            text = _("{path} not modified for {age} min (limit {limit} min): is the bot running?").format(
                path=path, age=f"{age / 60:.0f}", limit=f"{cfg.stale_after_sec / 60:g}")  # fmt: skip
            out.cond("live_stale", name, text, age_sec=round(age))
    live = load_live_state(folder)
    for problem in live.problems:
        out.cond("live_unreadable", Path(problem.path).name, f"{problem.path}: {problem.reason}")
    if live.state is not None and (bad := _wrong_types(live.state)):
        out.cond("live_unreadable", "trade-state.json", f"{folder / 'trade-state.json'}: {'; '.join(bad)}")
    if live.stats is not None:
        _money_rules(cfg, now, memory, live, out)
    _config_changed(folder, memory, out)


def _money_rules(cfg: WatchConfig, now: datetime, memory: dict[str, Any], live: Any, out: Findings) -> None:
    today = now.astimezone(default_tz()).date().isoformat()
    day = live.stats.get("date")
    per_pair = {
        p.pair: p.stats["realizedPnl"] for p in live.pairs if p.counted and p.stats["realizedPnl"] is not None
    }
    if isinstance(day, str) and len(day) == 10:
        pnl = memory.setdefault("pnl", {})
        pnl[day] = per_pair  # the digest reads yesterday's P&L from here
        for old in sorted(pnl)[:-PNL_DAYS_KEPT]:
            del pnl[old]
    if day == today and per_pair:
        total = sum(per_pair.values())
        if total <= -cfg.daily_loss_jpy:
            shown = ", ".join(f"{k} {yen(v)}" for k, v in per_pair.items())
            text = _("realised P&L today {total} is at or below -{limit} ({pairs})").format(
                total=yen(total), limit=yen(cfg.daily_loss_jpy), pairs=shown
            )
            out.cond("live_daily_loss", today, text, total_jpy=total)
    for p in live.pairs:
        dd = p.stats["maxDrawdown"]
        if dd is not None and abs(dd) >= cfg.max_drawdown_jpy:
            text = _("{pair} max drawdown {drawdown} is at or above {limit}").format(
                pair=p.pair, drawdown=yen(abs(dd)), limit=yen(cfg.max_drawdown_jpy)
            )
            out.cond("live_drawdown", p.pair, text, drawdown_jpy=abs(dd))


def _config_changed(folder: Path, memory: dict[str, Any], out: Findings) -> None:
    path = folder / "trade-config.json"
    try:
        with open_regular(path) as fh:  # a FIFO there is never read (it would hang the watch)
            digest: str | None = hashlib.sha256(fh.read(MAX_CONFIG_BYTES)).hexdigest()[:16]
    except (OSError, ZtbError):
        digest = None
    before = memory.get("config_hash", "unset")
    memory["config_hash"] = digest
    if before == "unset" or before == digest:
        return  # the first evaluation only learns the file
    change = (_("{path} was removed") if digest is None
              else (_("{path} appeared") if before is None else _("{path} changed")))  # fmt: skip
    out.event("live_config_changed", "trade-config.json", change.format(path=path))
