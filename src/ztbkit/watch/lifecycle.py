"""The alert lifecycle (Alertmanager's): pending → firing → resolved, kept in ``<state-dir>/.ztb/watch-state.json``.

Policy (users depend on it):

* Alerts are keyed by rule + subject: the same condition never opens two alerts.
* A condition is **pending** until it has held for the rule's ``for_sec`` *and* ``for_evaluations``
  consecutive evaluations; a blip that clears before then is never sent.
* A **firing** alert is sent once, then again every ``repeat_interval_sec`` while it lasts; when it
  clears, one **resolved** message is sent (only for an alert whose firing was sent).
* A silenced alert is not sent; when the silence ends and it still fires, it is sent then.
* One-shot rules (``live_config_changed``, ``training_failed``, ``training_finished``) are sent once.
* **Written before sent.** The new state, with the messages still to hand over in ``outgoing``, is
  replaced atomically *before* anything is queued or sent; ``outgoing`` is emptied only after the
  messages are in the outbox (fsync'd, keyed by message id so a second hand-over replaces the first).
  A kill -9 at any point therefore loses no transition, and sends at most one extra copy.
* **A clock put back** (NTP fixing a clock that ran ahead): a pending or last-sent time in the future
  is taken as now, so the alert fires ``for_sec`` from now and repeats ``repeat_interval_sec`` from
  now, never only once the clock has caught up with the jump.
* A state file that cannot be read is kept as ``watch-state.json.unreadable`` and the watch starts
  fresh (firing alerts are then sent again: a copy too many, never one too few).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ztbkit.core.errors import ZtbError
from ztbkit.core.fsio import atomic_write_json
from ztbkit.core.jsonread import open_regular, read_json_if_exists
from ztbkit.locale import _
from ztbkit.watch.config import EVENTS, WatchConfig
from ztbkit.watch.findings import Findings
from ztbkit.watch.silences import Silence, silence_for

STATE_FILE, EVENTS_FILE = "watch-state.json", "watch-events.jsonl"
EVENTS_MAX_BYTES = 2 * 2**20
MESSAGE_TEXT = ("id", "kind", "rule", "subject", "severity", "summary")
MAX_OUTGOING = 500  # messages that cannot be handed over (no webhook) are kept, the newest ones
Warn = Callable[[str], None]


def fresh_state() -> dict[str, Any]:
    return {"version": 1, "evaluations": 0, "alerts": {}, "outgoing": [], "memory": {}}


def load_state(ztb_dir: Path, warn: Warn, *, set_aside: bool = True) -> dict[str, Any]:
    """The watch state; an unreadable one is kept aside (``set_aside``, the watch itself) or only
    warned about (readers: the doctor, the DataFrame, the digest) and a fresh state returned."""
    path = ztb_dir / STATE_FILE
    read = read_json_if_exists(path)
    if read is None:
        return fresh_state()
    doc = read.value if read.ok else None
    if _well_formed(doc):
        assert isinstance(doc, dict)
        return doc
    if not set_aside:
        warn(str(read.problem or _("{path}: not a watch state").format(path=path)))
        return fresh_state()
    aside = path.with_name(STATE_FILE + ".unreadable")
    os.replace(path, aside)
    problem = read.problem or _("{path}: not a watch state").format(path=path)
    warn(_("{problem}; kept as {name}, starting fresh").format(problem=problem, name=aside.name))
    return fresh_state()


def _stamp(value: Any, optional: bool = False) -> bool:
    """An ISO time with its offset (a naive one cannot be compared with now: TypeError)."""
    if value is None:
        return optional
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None
    except ValueError:
        return False


def _well_formed(doc: Any) -> bool:
    """Every field the watch relies on has its type: a hand-edited or foreign state that passed as
    JSON would otherwise raise in every evaluation, for ever (it is set aside instead)."""
    if not isinstance(doc, dict):
        return False
    alerts, outgoing, memory = doc.get("alerts"), doc.get("outgoing"), doc.get("memory")
    if not (isinstance(alerts, dict) and isinstance(outgoing, list) and isinstance(memory, dict)):
        return False
    interval = doc.get("interval_sec")
    if not (_stamp(doc.get("last_eval"), True) and _stamp(doc.get("watching_since"), True)
            and (interval is None or type(interval) in (int, float))):  # fmt: skip
        return False
    for a in alerts.values():
        if not (isinstance(a, dict) and all(isinstance(a.get(k), str) for k in ("rule", "subject", "state"))
                and type(a.get("seen", 0)) is int and _stamp(a.get("active_since"))
                and _stamp(a.get("fired_at"), True) and _stamp(a.get("last_sent"), True)
                and all(isinstance(a.get(k, ""), str) for k in ("summary", "severity"))):  # fmt: skip
            return False
    for m in outgoing:
        if not (isinstance(m, dict) and all(isinstance(m.get(k), str) for k in MESSAGE_TEXT)
                and m["kind"] in ("firing", "repeat", "resolved", "event") and _stamp(m.get("at"))
                and _stamp(m.get("since"), True) and isinstance(m.get("data", {}), dict)):  # fmt: skip
            return False
    shapes = {"pnl": dict, "running": list, "failed": list, "scheduler_ok": dict}
    return (
        all(isinstance(memory.get(k, kind()), kind) for k, kind in shapes.items())
        and all(isinstance(v, dict) for v in memory.get("pnl", {}).values())
        and isinstance(memory.get("config_hash"), str | None)
    )


def save_state(ztb_dir: Path, state: dict[str, Any]) -> None:
    state["outgoing"] = state["outgoing"][-MAX_OUTGOING:]
    atomic_write_json(ztb_dir / STATE_FILE, state)


def _since(a: dict[str, Any], key: str, now: datetime) -> float:
    value = a.get(key)
    return (now - datetime.fromisoformat(value)).total_seconds() if isinstance(value, str) else float("inf")


def _message(kind: str, rule: str, subject: str, severity: str, summary: str, now: datetime,
             since: str | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    return {"id": uuid.uuid4().hex, "kind": kind, "rule": rule, "subject": subject, "severity": severity,
            "summary": summary, "at": now.isoformat(), "since": since, "data": data or {}}  # fmt: skip


def advance(state: dict[str, Any], found: Findings, cfg: WatchConfig, silences: list[Silence],
            now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Apply one evaluation to ``state``: (messages to send, messages a silence held back)."""
    alerts: dict[str, dict[str, Any]] = state["alerts"]
    send: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    stamp = now.isoformat()
    for key, f in found.conditions.items():
        rc = cfg.rule(f.rule)
        a = alerts.get(key) or {"rule": f.rule, "subject": f.subject, "state": "pending", "active_since": stamp,
                                "seen": 0, "fired_at": None, "last_sent": None, "suppressed": False}  # fmt: skip
        for when in ("active_since", "last_sent"):  # written while the clock ran ahead: taken as now
            if _since(a, when, now) < 0:
                a[when] = stamp
        a.update(seen=int(a.get("seen", 0)) + 1, summary=f.summary, severity=rc.severity)
        if (
            a["state"] == "pending"
            and _since(a, "active_since", now) >= rc.for_sec
            and a["seen"] >= rc.for_evaluations
        ):
            a.update(state="firing", fired_at=stamp)
        alerts[key] = a
        if a["state"] != "firing" or f.rule == "watchdog":
            continue
        quiet = silence_for(silences, f.rule, f.subject, now)
        a["silenced"] = quiet.id if quiet else None
        due = (
            a["last_sent"] is None
            or a.get("suppressed")
            or _since(a, "last_sent", now) >= rc.repeat_interval_sec
        )
        if not due:
            continue
        kind = "firing" if a["last_sent"] is None or a.get("suppressed") else "repeat"
        msg = _message(kind, f.rule, f.subject, rc.severity, f.summary, now, a["fired_at"], f.data)
        if quiet:
            if not a.get("suppressed"):
                held.append(msg)
            a["suppressed"] = True
            continue
        a.update(last_sent=stamp, suppressed=False)
        send.append(msg)
    for key in [k for k in alerts if k not in found.conditions]:
        a = alerts.pop(key)
        if a.get("state") != "firing" or a.get("rule") == "watchdog":
            continue  # a pending blip: never sent
        msg = _message("resolved", a["rule"], a["subject"], a.get("severity", "urgent"), a.get("summary", ""), now,
                       a.get("fired_at"))  # fmt: skip
        sent_before = a.get("last_sent") is not None and not a.get("suppressed")
        (send if sent_before and not silence_for(silences, a["rule"], a["subject"], now) else held).append(
            msg
        )
    for e in found.events:
        if e.rule not in EVENTS:
            continue
        msg = _message("event", e.rule, e.subject, cfg.rule(e.rule).severity, e.summary, now, stamp, e.data)
        (held if silence_for(silences, e.rule, e.subject, now) else send).append(msg)
    state.setdefault("watching_since", stamp)  # the digest says "not watched" for days before it
    state["evaluations"] = int(state.get("evaluations", 0)) + 1
    state["last_eval"] = stamp
    return send, held


def log_events(
    ztb_dir: Path, messages: list[dict[str, Any]], silenced: bool = False, warn: Warn | None = None
) -> None:
    """Append what happened to ``watch-events.jsonl`` (the digest reads it); rotated at 2 MB to ``.1``.

    The log only feeds the digest: a log that cannot be written is a warning, never a lost alert."""
    if not messages:
        return
    path = ztb_dir / EVENTS_FILE
    lines = "".join(json.dumps({**m, "silenced": silenced}, ensure_ascii=False) + "\n" for m in messages)
    try:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > EVENTS_MAX_BYTES:
                os.replace(path, path.with_name(EVENTS_FILE + ".1"))
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0), 0o600)
        try:
            os.write(fd, lines.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as exc:
        if warn is not None:
            warn(
                _("{path}: cannot log for the digest ({reason}); the alerts go out anyway").format(
                    path=path, reason=exc.strerror or exc
                )
            )


def read_events(ztb_dir: Path) -> list[dict[str, Any]]:
    """Every logged message, older file first; a torn or foreign line is skipped."""
    out: list[dict[str, Any]] = []
    for name in (EVENTS_FILE + ".1", EVENTS_FILE):
        try:
            with open_regular(ztb_dir / name) as fh:  # never blocks on a FIFO
                raw = fh.read(4 * EVENTS_MAX_BYTES)
        except (OSError, ZtbError):
            continue
        for line in raw.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if (
                isinstance(item, dict)
                and isinstance(item.get("at"), str)
                and isinstance(item.get("kind"), str)
            ):
                out.append(item)
    return out
