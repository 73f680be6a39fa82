"""One evaluation of ``ztb watch``, and the loop around it.

Order of one evaluation (the order is the guarantee; see :mod:`ztbkit.watch.lifecycle`):

1. take ``<state-dir>/.ztb/watch.lock`` (another evaluation running: this one is skipped, said so);
2. evaluate every rule; apply the lifecycle and the silences;
3. **write the state** with the messages to send in ``outgoing`` (atomic);
4. hand the messages to the outbox (fsync'd), then write the state again with ``outgoing`` empty;
5. deliver what waits in the outbox (oldest first, within ``ZTB_DELIVERY_BUDGET_SEC``);
6. ping the heartbeat: ``url`` when the pipeline worked (rules evaluated, state written, messages
   handed over, no alert stuck in the outbox past ``outbox_backlog_sec``, none refused for good),
   else ``url/fail``.

Nothing heavy is imported (no requests, pandas, matplotlib) unless there is something to deliver.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ztbkit.core.clock import SYSTEM_CLOCK, Clock, default_tz
from ztbkit.core.fsio import make_folders
from ztbkit.core.trylock import try_lock
from ztbkit.locale import N_, _
from ztbkit.watch.config import INFO, URGENT, WatchConfig
from ztbkit.watch.lifecycle import advance, load_state, log_events, save_state
from ztbkit.watch.rules import run_rules
from ztbkit.watch.silences import load_silences

Say = Callable[[str], None]
#: Kept in English in every language: ``ztb watch`` sends lines starting with it to stderr, and log
#: readers grep for it (like the ``ok:`` that starts a good evaluation's line).
WARNING = "warning: "
#: The state word of each message kind as people read it (translated when shown; ``kind`` stays English).
TITLES = {
    "firing": N_("firing"),
    "repeat": N_("firing · repeat"),
    "resolved": N_("resolved"),
    "event": N_("event"),
}
#: The kind of a message in the lines ``ztb watch`` prints (``[repeat]``, as the state file has it).
KINDS = {"firing": N_("firing"), "repeat": N_("repeat"), "resolved": N_("resolved"), "event": N_("event")}


@dataclass(slots=True)
class Outcome:
    exit_code: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    skipped: bool = False


def render(msg: dict[str, Any]) -> Any:
    """The message as an :class:`ztbkit.notify.Alert`: title ``[state] rule · subject``.

    Words are in the run's language (the state word, field names, "cleared after …", the hint); the
    rule id, subject and severity are the ones ``ztb silence add`` and ``[routes]`` take, so they stay."""
    from ztbkit.notify.alert import Alert, Field

    kind, severity = msg["kind"], msg["severity"]
    level = "INFO" if kind == "resolved" or severity == INFO else "ERROR"
    since = msg.get("since")
    shown = (
        datetime.fromisoformat(since).astimezone(default_tz()).strftime("%Y-%m-%d %H:%M JST")
        if since
        else "—"
    )
    state = _(TITLES[kind])
    fields = (Field(_("Rule"), msg["rule"], True), Field(_("Subject"), msg["subject"][:200], True),
              Field(_("State"), state, True), Field(_("Since"), shown, True))  # fmt: skip
    hint = _("silence: {command}").format(
        command=f"ztb silence add {msg['rule']}:{msg['subject'][:60]} --for 2h"
    )
    summary = msg["summary"]
    if kind == "resolved":
        lasted = (
            (datetime.fromisoformat(msg["at"]) - datetime.fromisoformat(since)).total_seconds()
            if since
            else None
        )
        summary = (
            _("cleared after {minutes} min; it was: {summary}").format(
                minutes=f"{lasted / 60:.0f}", summary=summary
            )
            if lasted is not None
            else _("cleared; it was: {summary}").format(summary=summary)
        )
    return Alert(f"[{state}] {msg['rule']} · {msg['subject'][:120]}", level, summary[:1500], fields,
                 footer=f"ztb watch · {severity} · {hint}", timestamp=datetime.fromisoformat(msg["at"]))  # fmt: skip


def route(cfg: WatchConfig, severity: str) -> Any:
    """``[routes] <severity>``, else the usual precedence (ZTB_DISCORD_WEBHOOK > SLACK_WEBHOOK_URL)."""
    from ztbkit.notify.webhook import Webhook, resolve_webhook, service_of

    url = cfg.routes.get(severity) or (cfg.routes.get(URGENT) if severity == INFO else None)
    if url:
        return Webhook(url, service_of(url, f"[routes] {severity}"), f"[routes] {severity}")
    return resolve_webhook()


def _hand_over(cfg: WatchConfig, state: dict[str, Any], say: Say) -> list[dict[str, Any]]:
    """Queue ``outgoing`` in the outbox (keyed by message id); what has no webhook stays in ``outgoing``."""
    from ztbkit.notify import payload_for
    from ztbkit.notify.outbox import Outbox

    outbox = Outbox(cfg.ztb_dir, warn=lambda m: say(WARNING + str(m)))
    kept, queued = [], []
    for msg in state["outgoing"]:
        hook = route(cfg, msg["severity"])
        if hook is None:
            kept.append(msg)
            continue
        outbox.enqueue(hook, payload_for(hook.service, render(msg)), key=f"watch-{msg['id']}")
        queued.append(msg)
    state["outgoing"] = kept
    save_state(cfg.ztb_dir, state)
    for msg in kept:
        say(_("not sent, kept in {path}: [{kind}] {rule} · {subject}: no webhook (set [routes] {severity}, "
              "ZTB_DISCORD_WEBHOOK or SLACK_WEBHOOK_URL)").format(
            path=cfg.ztb_dir / "watch-state.json", kind=_(KINDS[msg["kind"]]), rule=msg["rule"],
            subject=msg["subject"], severity=msg["severity"]))  # fmt: skip
    return queued


def _deliver(cfg: WatchConfig, say: Say) -> tuple[bool, bool]:
    """Flush the outbox when anything waits: (everything delivered, something refused for good)."""
    from ztbkit.notify.waiting import anything_waiting

    if not anything_waiting(cfg.ztb_dir):  # an emptied queue is no reason to load the outbox's lock
        return True, False
    from ztbkit.notify.outbox import Outbox

    outbox = Outbox(cfg.ztb_dir, warn=lambda m: say(WARNING + str(m)))
    if not outbox.pending():
        return True, False
    from ztbkit.notify.delivery import PERMANENT, result_line
    from ztbkit.notify.dispatch import flush
    from ztbkit.notify.webhook import Webhook

    flushed = flush(outbox)
    refused = False
    for entry, result in flushed:
        hook = Webhook(entry["url"], entry.get("service", "slack"), entry.get("source", "outbox"))
        title = (
            ((entry.get("payload") or {}).get("embeds") or [{}])[0].get("title")
            or entry.get("key")
            or _("alert")
        )
        say(f"{title}: {result_line(result, hook)}")
        refused |= result.status == PERMANENT
    return not outbox.pending(), refused


def _heartbeat(cfg: WatchConfig, state: dict[str, Any], healthy: bool, now: datetime, say: Say) -> bool:
    if not cfg.heartbeat_url:
        return True
    from ztbkit.notify.heartbeat import ping  # socket, threading, http.client: only when there is a URL

    result = ping(cfg.heartbeat_url, "" if healthy else "fail", timeout=cfg.heartbeat_timeout_sec)
    state["heartbeat"] = {
        "at": now.isoformat(),
        "ok": result.ok,
        "fail": not healthy,
        "detail": result.detail,
    }
    say(result.detail)
    return result.ok


def evaluate_once(cfg: WatchConfig, *, clock: Clock = SYSTEM_CLOCK, say: Say = print, dry_run: bool = False,
                  interval_sec: float | None = None) -> Outcome:  # fmt: skip
    """One evaluation (see the module docstring for its order); never raises for what it watches.

    When ztbkit itself cannot work (its ``.ztb`` folder unwritable, a full disk) the error is raised
    (the CLI prints one line, exit 2), but first the heartbeat gets ``url/fail``: the outside monitor
    then says so at once, instead of after its grace time.
    """
    try:
        return _evaluate(cfg, clock, say, dry_run, interval_sec)
    except Exception:
        if cfg.heartbeat_url and not dry_run:
            from ztbkit.notify.heartbeat import ping

            say(ping(cfg.heartbeat_url, "fail", timeout=cfg.heartbeat_timeout_sec).line())
        raise


def _evaluate(cfg: WatchConfig, clock: Clock, say: Say, dry_run: bool, interval_sec: float | None) -> Outcome:
    from ztbkit.core.errors import InputFileError

    out = Outcome()
    make_folders(cfg.ztb_dir)
    lock = contextlib.ExitStack()  # try_lock, not filelock: its import alone is a tenth of `ztb --help`
    if not lock.enter_context(try_lock(cfg.ztb_dir / "watch.lock")):
        lock.close()
        say(_("skipped: another ztb watch is evaluating right now (its messages are its own)"))
        out.skipped = True
        return out
    try:
        now = clock.now()
        warn = lambda m: say(WARNING + str(m))  # noqa: E731
        state = load_state(cfg.ztb_dir, warn)
        found = run_rules(cfg, now, state["memory"])
        try:
            silences = load_silences(cfg.ztb_dir)
        except InputFileError as exc:  # a broken silences file must not silence everything: none apply
            say(WARNING + _("{message}; no silence applies until it is fixed").format(message=exc))
            silences = []
        send, held = advance(state, found, cfg, silences, now)
        firing = sorted(
            k for k, a in state["alerts"].items() if a["state"] == "firing" and a["rule"] != "watchdog"
        )
        if dry_run:
            for msg in send:
                say(
                    _("would send [{kind}] {rule} · {subject}: {summary}").format(
                        kind=_(KINDS[msg["kind"]]),
                        rule=msg["rule"],
                        subject=msg["subject"],
                        summary=msg["summary"],
                    )
                )
            say(_("dry run: {firing} firing, {n} message(s) would be sent; nothing written or sent").format(
                firing=len(firing), n=len(send)))  # fmt: skip
            return out
        state["interval_sec"] = interval_sec
        state["outgoing"].extend(send)
        save_state(cfg.ztb_dir, state)  # the transition is durable before anything is sent
        log_events(cfg.ztb_dir, send, warn=warn)
        log_events(cfg.ztb_dir, held, silenced=True, warn=warn)
        for msg in held:
            say(_("silenced [{kind}] {rule} · {subject} (not sent)").format(
                kind=_(KINDS[msg["kind"]]), rule=msg["rule"], subject=msg["subject"]))  # fmt: skip
        queued = _hand_over(cfg, state, say) if state["outgoing"] else []
        all_delivered, refused = _deliver(cfg, say)
        out.sent = queued
        healthy = ("watchdog:ztbkit" in found.conditions and not state["outgoing"] and not refused
                   and not any(k.startswith("outbox_backlog:") for k in found.conditions))  # fmt: skip
        beat_ok = _heartbeat(cfg, state, healthy, now, say)
        save_state(cfg.ztb_dir, state)
        which = f" ({', '.join(firing[:5])}{', …' if len(firing) > 5 else ''})" if firing else ""
        then = (_("{n} message(s) handed to the outbox").format(n=len(queued)) if queued
                else _("nothing new to send"))  # fmt: skip
        say(
            "ok: "
            + _("evaluated at {when}: {n} firing{which}, {then}").format(
                when=f"{now.astimezone(default_tz()):%Y-%m-%d %H:%M:%S %Z}",
                n=len(firing),
                which=which,
                then=then,
            )
        )
        if refused:  # gone from the outbox, not delivered: the run did not get it through (exit 1)
            say(
                _(
                    "not sent: refused for good, kept in {path} (fix [routes] or ZTB_DISCORD_WEBHOOK; "
                    "`ztb notify` counts them)"
                ).format(path=cfg.ztb_dir / "ztb-outbox-dead.jsonl")
            )
        out.exit_code = 0 if all_delivered and beat_ok and not refused and not state["outgoing"] else 1
        return out
    finally:
        lock.close()


def watch_loop(cfg: WatchConfig, interval_sec: float, *, clock: Clock = SYSTEM_CLOCK, say: Say = print,
               dry_run: bool = False, stop: threading.Event | None = None) -> int:  # fmt: skip
    """Evaluate every ``interval_sec`` until SIGINT/SIGTERM (or ``stop``): a signal lets the running
    evaluation finish (its state written) and stops before the next one."""
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, _f: stop.set())
    try:
        while not stop.is_set():
            started = clock.monotonic()
            evaluate_once(cfg, clock=clock, say=say, dry_run=dry_run, interval_sec=interval_sec)
            while not stop.is_set() and (left := interval_sec - (clock.monotonic() - started)) > 0:
                clock.sleep(min(left, 0.25))
        say(_("stopped: the last evaluation finished and its state is written"))
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
