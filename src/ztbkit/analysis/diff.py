"""Two sessions side by side (``ztb diff A B``): what differs between two runs, and by how much.

Sections, each a list of rows ``{"key", "a", "b"}`` (plus ``"diff"`` = b − a where both are numbers):

* ``config``: hyperparameters (:mod:`ztbkit.data.hparams`) whose values differ, or that one run has
  and the other has not; equal ones are counted (``config_same``), not listed.
* ``metrics``: global_step, rl_sharpe, dsr, p_value, rss/VRAM peaks, steps per second — every one
  either run has.
* ``gates``: each gate's status in A and B (and the overall verdict).
* ``cost``: total yen and GPU-hours (from reports/cost_estimate.json); ``duration``: seconds.
* ``tensorboard``: the latest value of each TensorBoard tag both runs have (tags only one run has are
  counted in ``tensorboard_only_a``/``_b``).
* ``tags``/``notes``: the user's tags and notes (:mod:`ztbkit.data.notes`).

The JSON (``--json``) is this dict; its keys do not change with the language.
"""

from __future__ import annotations

import math
from typing import Any

from ztbkit.core.values import is_finite_number
from ztbkit.data.session import Session
from ztbkit.locale import _
from ztbkit.money.budget import read_cost

METRICS = ("global_step", "rl_sharpe", "dsr", "p_value", "rss_peak_mb", "memory_peak_mb", "steps_per_sec")
_MISSING = object()


def _row(key: str, a: Any, b: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"key": key, "a": a, "b": b}
    if is_finite_number(a) and is_finite_number(b) and not isinstance(a, bool) and not isinstance(b, bool):
        d = b - a
        row["diff"] = d if isinstance(d, int) else (d if math.isfinite(d) else None)
    return row


def latest_tb(s: Session) -> dict[str, float]:
    """The latest value of every TensorBoard scalar tag of a session (merged over its runs)."""
    from ztbkit.analysis.curves import tb_folder
    from ztbkit.data.tensorboard import scrape

    folder = tb_folder(s)
    if folder is None:
        return {}
    best: dict[str, tuple[int, float, float]] = {}
    for run_latest in scrape(folder).runs.values():
        for tag, point in run_latest.items():
            old = best.get(tag)
            if old is None or (point[0], point[1]) >= (old[0], old[1]):
                best[tag] = point
    return {tag: p[2] for tag, p in sorted(best.items())}


def diff_sessions(a: Session, b: Session, *, tensorboard: bool = True) -> dict[str, Any]:
    """The comparison of ``a`` and ``b`` (see the module docstring)."""
    config, same = [], 0
    for key in sorted(set(a.hparams) | set(b.hparams)):
        va, vb = a.hparams.get(key, _MISSING), b.hparams.get(key, _MISSING)
        if va == vb and type(va) is type(vb):
            same += 1
            continue
        row = _row(key, None if va is _MISSING else va, None if vb is _MISSING else vb)
        if va is _MISSING or vb is _MISSING:
            row["only"] = "a" if vb is _MISSING else "b"
        config.append(row)
    metrics = [
        _row(m, getattr(a, m), getattr(b, m))
        for m in METRICS
        if getattr(a, m) is not None or getattr(b, m) is not None
    ]
    gate_names: list[str] = []
    for s in (a, b):
        for g in s.gates.results if s.gates else ():
            if g.name not in gate_names:
                gate_names.append(g.name)

    def status(s: Session, name: str) -> str | None:
        return next((g.status for g in (s.gates.results if s.gates else ()) if g.name == name), None)

    gates: list[dict[str, str | None]] = [{"key": "verdict", "a": a.gate_verdict, "b": b.gate_verdict}]
    gates += [{"key": n, "a": status(a, n), "b": status(b, n)} for n in gate_names]
    (cost_a, hours_a, _src_a), (cost_b, hours_b, _src_b) = (
        read_cost(a.cost_estimate),
        read_cost(b.cost_estimate),
    )
    out: dict[str, Any] = {
        "a": a.session_id,
        "b": b.session_id,
        "config": config,
        "config_same": same,
        "metrics": metrics,
        "gates": gates,
        "cost": [_row("total_jpy", cost_a, cost_b), _row("gpu_hours", hours_a, hours_b)],
        "duration": [_row("duration_seconds", a.duration_seconds, b.duration_seconds)],
        "tags": {"a": list(a.tags), "b": list(b.tags)},
        "notes": {"a": list(a.notes), "b": list(b.notes)},
    }
    if tensorboard:
        ta, tb = latest_tb(a), latest_tb(b)
        out["tensorboard"] = [_row(t, ta[t], tb[t]) for t in sorted(set(ta) & set(tb))]
        out["tensorboard_only_a"] = len(set(ta) - set(tb))
        out["tensorboard_only_b"] = len(set(tb) - set(ta))
    return out


def _shown(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _signed(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:+,d}" if isinstance(v, int) else f"{v:+.6g}"


def diff_text(d: dict[str, Any]) -> str:
    """The comparison as aligned text for a terminal (values are escaped by the caller's safe_repr)."""
    lines = [f"A: {d['a']}", f"B: {d['b']}"]
    if d["tags"]["a"] or d["tags"]["b"]:
        tags_a, tags_b = ", ".join(d["tags"]["a"]) or "—", ", ".join(d["tags"]["b"]) or "—"
        lines.append(_("tags: A {a} | B {b}").format(a=tags_a, b=tags_b))
    # Section titles for people; the row keys (config names, metric and tag names) stay as written.
    sections = [(_("config (changed)"), d["config"]), (_("metrics"), d["metrics"]), (_("gates"), d["gates"]),
                (_("cost"), d["cost"]), (_("duration"), d["duration"])]  # fmt: skip
    if "tensorboard" in d:
        sections.append((_("tensorboard (latest, shared tags)"), d["tensorboard"]))
    for i, (title, rows) in enumerate(sections):
        lines.append("")
        if i == 0:
            lines.append(
                _("{title}: {n}; {same} equal").format(title=title, n=len(rows), same=d["config_same"])
            )
        else:
            lines.append(_("{title}: {n}").format(title=title, n=len(rows)))
        width = max((len(str(r["key"])) for r in rows), default=0)
        for r in rows:
            delta = _signed(r.get("diff"))
            lines.append(
                f"  {r['key']!s:<{width}}  {_shown(r['a']):>12}  {_shown(r['b']):>12}"
                + (f"  {delta}" if delta else "")
            )
    return "\n".join(lines) + "\n"
