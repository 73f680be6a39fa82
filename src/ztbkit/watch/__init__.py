"""Watching the bot between nights: rules on the live bot, training and ztbkit itself, the alert
lifecycle (pending → firing → resolved, repeat, de-duplication), silences, the outside heartbeat
ping after each evaluation, and the daily all-clear digest (``config``, ``rules*``, ``lifecycle``,
``silences``, ``engine``, ``digest``).

May import: ``ztbkit.core``, ``ztbkit.data``, ``ztbkit.money``, ``ztbkit.analysis``, ``ztbkit.notify``.
Used by ``ops`` (the doctor's watch check) and ``cli`` (``ztb watch``, ``ztb silence``, ``ztb digest``).

In JupyterLab: ``ztbkit.watch.current_alerts("/opt/bot")`` is a DataFrame of the alerts now pending
or firing (one row per rule + subject), as the last ``ztb watch`` evaluation left them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [
    "rule",
    "subject",
    "severity",
    "state",
    "active_since",
    "fired_at",
    "last_sent",
    "silenced",
    "summary",
]


def current_alerts(state_dir: str | os.PathLike[str] = ".") -> pd.DataFrame:
    """The alerts pending or firing in ``<state_dir>/.ztb/watch-state.json`` (the watchdog left out)."""
    import pandas as pd

    from ztbkit.core.statedir import ztb_dir
    from ztbkit.watch.lifecycle import load_state

    folder = ztb_dir(state_dir)
    state = load_state(folder, lambda _m: None, set_aside=False) if folder.is_dir() else {}
    rows = [
        {c: a.get(c) for c in COLUMNS}
        for a in state.get("alerts", {}).values()
        if a.get("rule") != "watchdog"
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for col in ("active_since", "fired_at", "last_sent"):
        frame[col] = pd.to_datetime(frame[col], utc=True, errors="coerce")
    return frame.sort_values(["state", "rule", "subject"], ignore_index=True)


__all__ = ["COLUMNS", "current_alerts"]
