"""Gate failures → one compact alert.

The alert names the failing gates (the first 3, then "+N more"), each with its reason, links to the
session's dashboard, and is ERROR when a critical gate failed (memory_rss, no_dup_steps, or "critical"
in the reason), else WARN. A gates file with no failures gives no alert.

Fair packing: each of the first three names gets at most 100 characters and each reason at most 500,
the "+N more" list at most 400 (cut with ``…``, counted as Slack will see them, escapes included), so
every one of the three is named with a useful part of its reason within every Discord and Slack limit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ztbkit.core.errors import InputFileError
from ztbkit.core.jsonread import Problem, read_json_if_exists
from ztbkit.data.gates import GateReport, parse_gates
from ztbkit.locale import _
from ztbkit.notify.alert import Alert, Field

SHOWN = 3
NAME_SHARE, REASON_SHARE, MORE_SHARE = 100, 500, 400
_ESCAPED = {"&": 5, "<": 4, ">": 4}  # Slack mrkdwn escapes: the length Slack counts


def fair_cut(text: str, limit: int) -> str:
    """``text`` cut so that even escaped for Slack it stays within ``limit``, ending in ``…`` if cut."""
    if sum(_ESCAPED.get(c, 1) for c in text) <= limit:
        return text
    used, out = 1, []  # room for the "…"
    for c in text:
        used += _ESCAPED.get(c, 1)
        if used > limit:
            break
        out.append(c)
    return "".join(out) + "…"


@dataclass(slots=True)
class GatesCheck:
    path: Path
    report: GateReport | None  # None: no gates file (or an empty one)
    issues: list[Problem] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.report is not None and self.report.verdict == "fail"


def read_gates(artifacts_dir: str | os.PathLike[str], correlation_id: str) -> GatesCheck:
    """The session's reports/gates.json; a missing or empty file is 'nothing to check', not an error."""
    path = Path(artifacts_dir) / correlation_id / "reports" / "gates.json"
    read = read_json_if_exists(path)
    if read is None:
        return GatesCheck(path, None)
    if read.problem is not None:
        if read.problem.reason == "file is empty":
            return GatesCheck(path, None)
        raise InputFileError(str(read.problem))
    issues: list[Problem] = []
    report = parse_gates(read.value, str(path), issues)
    if not report.results and report.declared_pass is None:
        return GatesCheck(path, None, issues)
    return GatesCheck(path, report, issues)


def dashboard_link(artifacts_dir: str | os.PathLike[str], correlation_id: str, env: Mapping[str, str]) -> str:
    """$ZTB_DASHBOARD_URL (with ``{id}`` filled in, or ``#<id>`` appended), else the local dashboard path."""
    base = env.get("ZTB_DASHBOARD_URL", "").strip()
    if base:
        return base.replace("{id}", correlation_id) if "{id}" in base else f"{base}#{correlation_id}"
    return str(Path(artifacts_dir) / "dashboard.html")


def gates_alert(
    correlation_id: str, check: GatesCheck, link: str, *, now: datetime | None = None
) -> Alert | None:
    """The alert for a failed gates check; None when nothing failed."""
    if not check.failed or check.report is None:
        return None
    failures = check.report.failures
    no_reason = _("no reason given")
    lines = [
        f"• **{fair_cut(g.name, NAME_SHARE)}**: {fair_cut(g.reason or no_reason, REASON_SHARE)}"
        for g in failures[:SHOWN]
    ]
    if len(failures) > SHOWN:
        names = fair_cut(", ".join(g.name for g in failures[SHOWN:]), MORE_SHARE)
        lines.append(_("+{n} more: {names}").format(n=len(failures) - SHOWN, names=names))
    if not failures:
        lines.append(_("gates.json reports pass: false without naming a gate"))
    critical = check.report.critical_failure
    total = len(check.report.results)
    title = _("Critical gate failed: {id}") if critical else _("Acceptance gates failed: {id}")
    return Alert(
        title=title.format(id=correlation_id),
        level="ERROR" if critical else "WARN",
        description="\n".join(lines),
        fields=(
            Field(_("Session"), correlation_id, True),
            Field(
                _("Failed"), _("{n} of {total}").format(n=len(failures), total=total) if total else "—", True
            ),
            Field(_("Dashboard"), link, False),
        ),
        url=link if link.startswith(("http://", "https://")) else None,
        footer="ztbkit gates-alert",
        timestamp=now,
    )
