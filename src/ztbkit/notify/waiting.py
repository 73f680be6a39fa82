"""Alerts waiting in the outbox go out with the next unattended command, not with the next alert.

Policy (users depend on it): every command that runs unattended — the ``ztb cronish`` tick, ``ztb
nightly``, ``ztb live-status``, ``ztb gates-alert``, ``ztb trend-alert`` — sends what waits in
ztbkit's outbox (``ztbkit.core.statedir``), oldest first, within its delivery budget
(``ZTB_DELIVERY_BUDGET_SEC``), even on a night with nothing new to say. Each outcome is one line;
nothing waiting is no line and no network. A side flush never changes the command's exit code:
what is still waiting is said, and ``ztb doctor`` / ``ztb notify`` show it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ztbkit.core.statedir import ztb_dir
from ztbkit.locale import _
from ztbkit.notify.outbox import OUTBOX_FILE, SPOOL_DIR

Say = Callable[[str], None]


def anything_waiting(folder: str | os.PathLike[str]) -> bool:
    """Cheap: is there an outbox queue or a spooled event at all (no parsing, no folder made)?"""
    from pathlib import Path

    base = Path(folder)
    if (base / OUTBOX_FILE).is_file() and (base / OUTBOX_FILE).stat().st_size > 0:
        return True
    try:
        return any(p.name[:1] != "." for p in (base / SPOOL_DIR).iterdir())
    except OSError:
        return False


def flush_waiting(state_dir: str | os.PathLike[str] | None, say: Say, warn: Say | None = None) -> int:
    """Send what waits (oldest first, within the budget); returns how many are still waiting.
    Outcomes go to ``say``; warnings (already prefixed ``warning:``) to ``warn``, else to ``say``."""
    warn_line = warn or say
    folder = ztb_dir(state_dir)
    if not anything_waiting(folder):
        return 0  # the idle case: checked before the sending half (requests) is imported
    from ztbkit.core.errors import ZtbError
    from ztbkit.notify.delivery import result_line
    from ztbkit.notify.dispatch import flush
    from ztbkit.notify.outbox import Outbox
    from ztbkit.notify.webhook import Webhook

    try:
        outbox = Outbox(folder, warn=lambda m: warn_line(f"warning: {m}"))
        if not outbox.pending():
            return 0
        flushed = flush(outbox)
        left = len(outbox.pending())
    except (OSError, ZtbError) as exc:
        warn_line(
            "warning: " + _("{folder}: cannot flush the outbox ({reason})").format(folder=folder, reason=exc)
        )
        return -1
    for entry, result in flushed:
        hook = Webhook(entry["url"], entry.get("service", "slack"), entry.get("source", "outbox"))
        say(
            _("outbox {id} ({created}): {result}").format(
                id=entry.get("id", "?")[:8],
                created=entry.get("created_at", "?"),
                result=result_line(result, hook),
            )
        )
    say(
        _("outbox: {delivered} delivered, {left} still waiting in {path}").format(
            delivered=sum(r.delivered for _e, r in flushed), left=left, path=outbox.path
        )
    )
    return left
