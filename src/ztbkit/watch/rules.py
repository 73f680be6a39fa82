"""Running the rules: every rule group once (``live``, ``training``, ``ztbkit itself``), collecting
conditions and events (:mod:`ztbkit.watch.findings`).

A rule group that crashes does not stop the others and is never silence: its crash becomes a
condition of that group's main rule with the subject ``(check crashed)``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ztbkit.locale import _
from ztbkit.watch.config import WatchConfig
from ztbkit.watch.findings import Findings

Group = Callable[[WatchConfig, datetime, dict[str, Any], Findings], None]


def run_rules(cfg: WatchConfig, now: datetime, memory: dict[str, Any]) -> Findings:
    """Every enabled rule once; ``memory`` (kept in the watch state) is what rules remember between runs."""
    from ztbkit.watch.rules_live import live_rules
    from ztbkit.watch.rules_self import self_rules
    from ztbkit.watch.rules_training import training_rules

    out = Findings()
    groups: list[tuple[Group, str]] = [(self_rules, "scheduler_failed")]
    if cfg.live_dir is not None:
        groups.append((live_rules, "live_unreadable"))
    if cfg.artifacts_dir is not None:
        groups.append((training_rules, "training_stalled"))
    for group, main_rule in groups:
        try:
            group(cfg, now, memory, out)
        except Exception as exc:  # a rule that crashes is an alert, never silence
            where = traceback.extract_tb(exc.__traceback__)[-1]
            at = f"{Path(where.filename).name}:{where.lineno}"
            crash = _("{error}: {message} (at {where})").format(
                error=type(exc).__name__, message=exc, where=at
            )
            out.cond(main_rule, "(check crashed)", crash)
    out.cond("watchdog", "ztbkit", _("the watch pipeline evaluated every rule"))
    for key in [k for k, f in out.conditions.items() if not cfg.rule(f.rule).enabled]:
        del out.conditions[key]
    out.events = [e for e in out.events if cfg.rule(e.rule).enabled]
    return out
