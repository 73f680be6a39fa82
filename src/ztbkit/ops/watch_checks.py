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
from ztbkit.locale import _
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
            _("ztb watch has never run with state in {folder} (README: Watching the bot)").format(
                folder=ztb_dir
            ),
        )
    details: list[str] = []
    problems: list[str] = []
    state = load_state(ztb_dir, problems.append, set_aside=False)
    now = ctx.clock.now()
    last = state.get("last_eval")
    age = (now - datetime.fromisoformat(last)).total_seconds() if isinstance(last, str) else None
    interval = state.get("interval_sec") or 60
    if age is None or age > max(STALE_SEC, 3 * float(interval)):
        problems.append(
            _("last evaluation {n} min ago").format(n=f"{age / 60:.0f}")
            if age is not None
            else _("last evaluation unknown")
        )
    firing = [
        a for a in state["alerts"].values() if a.get("state") == "firing" and a.get("rule") != "watchdog"
    ]
    for a in firing:
        details.append(_("firing: {rule} · {subject}: {summary}").format(
            rule=a["rule"], subject=a["subject"], summary=str(a.get("summary", ""))[:120])
            + (_(" (silenced by {id})").format(id=a["silenced"]) if a.get("silenced") else ""))  # fmt: skip
    if firing:
        problems.append(_("{n} alert(s) firing").format(n=len(firing)))
    if state["outgoing"]:
        problems.append(
            _("{n} message(s) kept with no webhook to send them to").format(n=len(state["outgoing"]))
        )
    try:
        silences = [s for s in load_silences(ztb_dir) if s.active(now)]
    except ZtbError as exc:
        problems.append(str(exc))
        silences = []
    details += [
        _("silence {id}: {matcher} until {ends} {comment}").format(id=s.id, matcher=s.matcher, ends=s.ends,
                                                                   comment=s.comment).rstrip()
        for s in silences
    ]  # fmt: skip
    beat = state.get("heartbeat")
    if isinstance(beat, dict):
        details.append(
            _("last heartbeat {at}: {detail}").format(at=beat.get("at"), detail=beat.get("detail"))
        )
        if not beat.get("ok"):
            problems.append(_("the last heartbeat ping did not get through"))
    else:
        details.append(_("no heartbeat configured ([heartbeat] url): nobody outside notices a dark PC"))
    when = (
        f"{datetime.fromisoformat(last).astimezone(default_tz()):%Y-%m-%d %H:%M:%S}"
        if isinstance(last, str)
        else "?"
    )
    reason = _("last evaluation {when} JST, {firing} firing, {silences} silence(s)").format(
        when=when, firing=len(firing), silences=len(silences))  # fmt: skip
    if problems:
        reason = _("{reason}: {problems}").format(reason=reason, problems="; ".join(problems))
    return Check("watch_state", "WARN" if problems else "OK", reason, details)
