"""The doctor's view of ``ztb watch``: last evaluation, firing alerts, silences, last heartbeat.

Read from ``<state-dir>/.ztb/`` (the folder of the scheduler state file the doctor is given). WARN
when the watch has never run there, its last evaluation is older than 10 minutes (or three of its
own intervals), an alert fires, messages wait without a webhook, or the last heartbeat did not get
through; never FAIL (the watch is optional, its alerts already went out).
"""

from __future__ import annotations

from datetime import datetime

from ztbkit.core.clock import default_tz
from ztbkit.core.errors import ZtbError
from ztbkit.ops.checks import Check, Context
from ztbkit.watch.lifecycle import STATE_FILE, load_state
from ztbkit.watch.silences import load_silences

STALE_SEC = 600.0


def watch_state(ctx: Context) -> Check:
    ztb_dir = ctx.state_file.parent
    if not (ztb_dir / STATE_FILE).exists():
        return Check(
            "watch_state",
            "WARN",
            f"ztb watch has never run with state in {ztb_dir} (README: Watching the bot)",
        )
    details: list[str] = []
    problems: list[str] = []
    state = load_state(ztb_dir, problems.append, set_aside=False)
    now = ctx.clock.now()
    last = state.get("last_eval")
    age = (now - datetime.fromisoformat(last)).total_seconds() if isinstance(last, str) else None
    interval = state.get("interval_sec") or 60
    if age is None or age > max(STALE_SEC, 3 * float(interval)):
        problems.append("last evaluation " + (f"{age / 60:.0f} min ago" if age is not None else "unknown"))
    firing = [
        a for a in state["alerts"].values() if a.get("state") == "firing" and a.get("rule") != "watchdog"
    ]
    for a in firing:
        details.append(f"firing: {a['rule']} · {a['subject']}: {str(a.get('summary', ''))[:120]}"
                       + (f" (silenced by {a['silenced']})" if a.get("silenced") else ""))  # fmt: skip
    if firing:
        problems.append(f"{len(firing)} alert(s) firing")
    if state["outgoing"]:
        problems.append(f"{len(state['outgoing'])} message(s) kept with no webhook to send them to")
    try:
        silences = [s for s in load_silences(ztb_dir) if s.active(now)]
    except ZtbError as exc:
        problems.append(str(exc))
        silences = []
    details += [f"silence {s.id}: {s.matcher} until {s.ends} {s.comment}".rstrip() for s in silences]
    beat = state.get("heartbeat")
    if isinstance(beat, dict):
        details.append(f"last heartbeat {beat.get('at')}: {beat.get('detail')}")
        if not beat.get("ok"):
            problems.append("the last heartbeat ping did not get through")
    else:
        details.append("no heartbeat configured ([heartbeat] url): nobody outside notices a dark PC")
    when = (
        f"{datetime.fromisoformat(last).astimezone(default_tz()):%Y-%m-%d %H:%M:%S}"
        if isinstance(last, str)
        else "?"
    )
    reason = f"last evaluation {when} JST, {len(firing)} firing, {len(silences)} silence(s)"
    return Check("watch_state", "WARN" if problems else "OK", reason + (f": {'; '.join(problems)}" if problems else ""),
                 details)  # fmt: skip
