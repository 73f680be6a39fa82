"""``watch.toml``: what ``ztb watch`` looks at, its thresholds, routes and heartbeat.

Every key is optional; the defaults below are the documented ones (README, "Watching the bot").
Relative paths in the file are relative to the file's own folder (so cron and systemd, which start
in another folder, read the same places); without a file, ``[live] state_dir`` is ``--state-dir``
and the artifacts folder is ``<state-dir>/artifacts``. A wrong key or value is a :class:`UsageError`
naming the file and the key (exit 2), never a guess.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ztbkit.core.errors import UsageError, ZtbError, os_reason
from ztbkit.core.jsonread import open_regular
from ztbkit.core.statedir import ztb_dir
from ztbkit.locale import _

URGENT, INFO = "urgent", "info"

#: rule id → (default severity, what it means); README's table says the same.
RULES: dict[str, tuple[str, str]] = {
    "live_stale": (URGENT, "trade-state.json or stats.json not modified for [live] stale_after_sec"),
    "live_missing": (URGENT, "the live state folder or one of its files is missing"),
    "live_unreadable": (URGENT, "a live state file is not valid JSON or has wrong types"),
    "live_daily_loss": (URGENT, "today's realised P&L (JST) summed over pairs at or below -daily_loss_jpy"),
    "live_drawdown": (URGENT, "a pair's maxDrawdown at or above [live] max_drawdown_jpy"),
    "live_config_changed": (INFO, "trade-config.json changed (sent once)"),
    "training_stalled": (URGENT, "a running session has not advanced for [training] stalled_after_sec"),
    "training_failed": (URGENT, "a session became failed (sent once, with its last error line)"),
    "training_finished": (INFO, "a session finished (sent once, with Sharpe/DSR and cost)"),
    "scheduler_missed": (URGENT, "a cronish job's last success is older than it allows"),
    "scheduler_failed": (URGENT, "a cronish job's last run failed, timed out or could not start"),
    "outbox_backlog": (URGENT, "an alert has waited in the outbox longer than [ztbkit] outbox_backlog_sec"),
    "disk_low": (
        URGENT,
        "the artifacts or state filesystem has less free space than [ztbkit] disk_min_free_gb",
    ),
    "watchdog": (INFO, "always firing, never sent: proves the pipeline to the heartbeat"),
}
#: One-shot rules: sent once when they happen, never repeated, never resolved.
EVENTS = frozenset({"live_config_changed", "training_failed", "training_finished"})
MAX_CONFIG_BYTES = 1 << 20  # a watch.toml is a few hundred bytes; more is not one


#: The longest duration watch.toml takes (366 days, in seconds).
MAX_SECONDS = 366 * 86_400


@dataclass(frozen=True, slots=True)
class RuleConfig:
    severity: str
    enabled: bool = True
    for_sec: float = 0.0
    for_evaluations: int = 1
    repeat_interval_sec: float = 4 * 3600.0


@dataclass(slots=True)
class WatchConfig:
    state_dir: Path
    live_dir: Path | None
    artifacts_dir: Path | None
    artifacts_configured: bool = False  # a missing folder is an alert only when the file names it
    stale_after_sec: float = 900.0
    daily_loss_jpy: float = 10_000.0
    max_drawdown_jpy: float = 20_000.0
    stalled_after_sec: float = 1800.0
    scheduler_state: Path | None = None
    missed_after_sec: float = 26 * 3600.0
    job_missed_after_sec: dict[str, float] = field(default_factory=dict)
    outbox_backlog_sec: float = 1800.0
    disk_min_free_gb: float = 2.0
    routes: dict[str, str] = field(default_factory=dict)
    heartbeat_url: str | None = None
    heartbeat_timeout_sec: float = 10.0
    rules: dict[str, RuleConfig] = field(default_factory=dict)
    source: str = "(defaults)"

    @property
    def ztb_dir(self) -> Path:
        """ztbkit's own folder (outbox, watch state, silences): the one rule of :mod:`ztbkit.core.statedir`."""
        return ztb_dir(self.state_dir)

    def rule(self, rule_id: str) -> RuleConfig:
        return self.rules.get(rule_id) or RuleConfig(RULES[rule_id][0])


class _Reader:
    def __init__(self, doc: dict[str, Any], source: str, base: Path) -> None:
        self.doc, self.source, self.base = doc, source, base

    def fail(self, key: str, why: str) -> UsageError:
        return UsageError("{source}: {key}: {why}", source=self.source, key=key, why=why)

    def table(self, name: str, allowed: set[str]) -> dict[str, Any]:
        value = self.doc.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(f"[{name}]", _("expected a table"))
        if unknown := sorted(set(value) - allowed):
            raise self.fail(
                f"[{name}] {unknown[0]}",
                _("unknown key (known: {keys})").format(keys=", ".join(sorted(allowed))),
            )
        return value

    def number(
        self, table: dict[str, Any], section: str, key: str, default: float, minimum: float = 0
    ) -> float:
        """A finite number >= ``minimum``; a duration (``*_sec``, a ``[scheduler.jobs]`` entry) is at
        most :data:`MAX_SECONDS`: a rule that waits longer than a year can never fire, which is
        silence the user did not ask for (``for_sec = 1e308`` was accepted)."""
        value = table.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < minimum
        ):
            raise self.fail(
                f"[{section}] {key}",
                _("expected a number >= {minimum}, got {value}").format(
                    minimum=f"{minimum:g}", value=repr(value)
                ),
            )
        if (key.endswith("_sec") or section == "scheduler.jobs") and value > MAX_SECONDS:
            raise self.fail(
                f"[{section}] {key}",
                _("{value} seconds is more than a year: that alert could never fire").format(
                    value=repr(value)
                ),
            )
        return float(value)

    def path(self, table: dict[str, Any], section: str, key: str) -> Path | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"[{section}] {key}", _("expected a path, got {value}").format(value=repr(value)))
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else self.base / p

    def url(self, table: dict[str, Any], section: str, key: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        from ztbkit.notify.webhook import redact

        if not isinstance(value, str) or not value.strip().startswith(("http://", "https://")):
            shown = redact(value) if isinstance(value, str) else repr(value)
            raise self.fail(
                f"[{section}] {key}", _("expected an http(s) URL, got {value}").format(value=shown)
            )
        return value.strip()


def _rule_table(r: _Reader, rule_id: str, value: Any) -> RuleConfig:
    section = f"rules.{rule_id}"
    if rule_id not in RULES:
        raise r.fail(f"[{section}]", _("unknown rule (known: {rules})").format(rules=", ".join(RULES)))
    if not isinstance(value, dict):
        raise r.fail(f"[{section}]", _("expected a table"))
    allowed = {"severity", "enabled", "for_sec", "for_evaluations", "repeat_interval_sec"}
    if unknown := sorted(set(value) - allowed):
        raise r.fail(
            f"[{section}] {unknown[0]}",
            _("unknown key (known: {keys})").format(keys=", ".join(sorted(allowed))),
        )
    base = RuleConfig(RULES[rule_id][0])
    severity = value.get("severity", base.severity)
    if severity not in (URGENT, INFO):
        raise r.fail(
            f"[{section}] severity",
            _("expected 'urgent' or 'info', got {value}").format(value=repr(severity)),
        )
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise r.fail(
            f"[{section}] enabled", _("expected true or false, got {value}").format(value=repr(enabled))
        )
    evals = value.get("for_evaluations", 1)
    if isinstance(evals, bool) or not isinstance(evals, int) or evals < 1:
        raise r.fail(
            f"[{section}] for_evaluations",
            _("expected a whole number >= 1, got {value}").format(value=repr(evals)),
        )
    return RuleConfig(severity, enabled, r.number(value, section, "for_sec", 0.0), evals,
                      r.number(value, section, "repeat_interval_sec", base.repeat_interval_sec, 60))  # fmt: skip


def load_config(path: Path | None, state_dir: Path) -> WatchConfig:
    """The watch configuration from ``path`` (TOML), or the defaults when ``path`` is None."""
    import tomllib

    doc: dict[str, Any] = {}
    source, base = "(defaults)", Path(".")
    if path is not None:
        try:
            with open_regular(path) as fh:  # a FIFO there is refused, never read (cron would pile up)
                raw = fh.read(MAX_CONFIG_BYTES + 1)
            if len(raw) > MAX_CONFIG_BYTES:
                raise UsageError(
                    "--config: {path}: larger than {kib} KiB, not a watch.toml",
                    path=path,
                    kib=MAX_CONFIG_BYTES // 1024,
                )
            doc = tomllib.loads(raw.decode("utf-8"))
        except FileNotFoundError:
            raise UsageError("--config: {path} does not exist", path=path) from None
        except ZtbError as exc:  # a folder, a FIFO, no permission: open_regular names the path
            raise UsageError("--config: {error}", error=exc) from None
        except UnicodeDecodeError as exc:
            raise UsageError(
                "--config: {path} is not UTF-8 text (byte {byte}); save it as UTF-8",
                path=path,
                byte=exc.start,
            ) from None
        except (ValueError, RecursionError) as exc:  # TOMLDecodeError, a 4300+ digit integer, deep nesting
            reason = str(exc).splitlines()[0] if str(exc) else _("nested too deeply")
            raise UsageError(
                "--config: {path} is not valid TOML: {reason}", path=path, reason=reason
            ) from None
        except OSError as exc:
            raise UsageError("--config: {path}: {reason}", path=path, reason=os_reason(exc)) from None
        source, base = str(path), path.parent.absolute()
    r = _Reader(doc, source, base)
    if unknown := sorted(
        set(doc) - {"live", "training", "scheduler", "ztbkit", "rules", "routes", "heartbeat"}
    ):
        raise r.fail(f"[{unknown[0]}]", _("unknown table"))
    live = r.table("live", {"enabled", "state_dir", "stale_after_sec", "daily_loss_jpy", "max_drawdown_jpy"})
    training = r.table("training", {"enabled", "artifacts_dir", "stalled_after_sec"})
    sched = r.table("scheduler", {"state_file", "missed_after_sec", "jobs"})
    own = r.table("ztbkit", {"outbox_backlog_sec", "disk_min_free_gb"})
    routes = r.table("routes", {URGENT, INFO})
    beat = r.table("heartbeat", {"url", "timeout_sec"})
    rules_doc = doc.get("rules", {})
    if not isinstance(rules_doc, dict):
        raise r.fail("[rules]", _("expected a table of [rules.<id>] tables"))
    jobs = sched.get("jobs", {})
    if not isinstance(jobs, dict):
        raise r.fail("[scheduler.jobs]", _("expected a table of job name = seconds"))
    return WatchConfig(
        state_dir=state_dir,
        live_dir=None if live.get("enabled") is False else (r.path(live, "live", "state_dir") or state_dir),
        artifacts_dir=None if training.get("enabled") is False
        else (r.path(training, "training", "artifacts_dir") or state_dir / "artifacts"),
        artifacts_configured="artifacts_dir" in training,
        stale_after_sec=r.number(live, "live", "stale_after_sec", 900, 1),
        daily_loss_jpy=r.number(live, "live", "daily_loss_jpy", 10_000),
        max_drawdown_jpy=r.number(live, "live", "max_drawdown_jpy", 20_000),
        stalled_after_sec=r.number(training, "training", "stalled_after_sec", 1800, 1),
        scheduler_state=r.path(sched, "scheduler", "state_file") or ztb_dir(state_dir) / "cronish-state.json",
        missed_after_sec=r.number(sched, "scheduler", "missed_after_sec", 26 * 3600, 60),
        job_missed_after_sec={str(k): r.number(jobs, "scheduler.jobs", str(k), 0, 60) for k in jobs},
        outbox_backlog_sec=r.number(own, "ztbkit", "outbox_backlog_sec", 1800, 1),
        disk_min_free_gb=r.number(own, "ztbkit", "disk_min_free_gb", 2),
        routes={k: u for k in (URGENT, INFO) if (u := r.url(routes, "routes", k))},
        heartbeat_url=r.url(beat, "heartbeat", "url"),
        heartbeat_timeout_sec=r.number(beat, "heartbeat", "timeout_sec", 10, 0.1),
        rules={k: _rule_table(r, k, v) for k, v in rules_doc.items()},
        source=source,
    )  # fmt: skip
