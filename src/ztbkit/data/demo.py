"""A realistic demo artifact tree: the embedded default that ``make demo`` and the reports run on.

``build_demo(out_dir)`` writes ``out_dir/artifacts/`` (dozens of sessions over several weeks, the
bot's mixed shapes, gates passing and failing, logs with errors, TensorBoard event files, one
session whose summary.json was cut short mid-write, one index entry whose folder is gone) and
``out_dir/state/`` (trade-state.json, trade-config.json, stats.json). The same seed gives the same
bytes, apart from TensorBoard framing which is deterministic too (no wall clock is read).

A folder is only replaced when it was made by the demo (it carries a ``.ztbkit-demo`` marker), so a
mistyped ``--out-dir`` can never wipe real artifacts.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ztbkit.core.clock import default_tz
from ztbkit.core.errors import OutputPathError, UsageError, os_reason
from ztbkit.core.fsio import atomic_write_bytes, atomic_write_json, atomic_write_text, make_folders
from ztbkit.data.demo_sweep import sweep_effect, sweep_params, sweep_run_metadata

MARKER = ".ztbkit-demo"
#: The demo's "today": fixed so the same seed always gives the same tree.
DEFAULT_END = datetime(2025, 10, 31, 23, 0, tzinfo=UTC)
TOTAL_STEPS = 5_000_000
GPU_MODELS = ("NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 3080", "NVIDIA GeForce RTX 4070")


@dataclass(frozen=True, slots=True)
class DemoResult:
    root: Path
    artifacts_dir: Path
    state_dir: Path
    sessions: int


def _jst(dt: datetime) -> str:
    return dt.astimezone(default_tz()).replace(tzinfo=None).isoformat(timespec="seconds")


def tb_event_file_bytes(scalars: list[tuple[int, float, dict[str, float]]], start_wall: float) -> bytes:
    """Bytes of a TensorBoard event file: a file_version record, then one record per (step, wall, tags).

    Uses tensorboardX's protobuf messages and record framing (length, masked CRC32C, data, CRC).
    """
    from tensorboardX.proto import event_pb2, summary_pb2
    from tensorboardX.record_writer import masked_crc32c

    def frame(data: bytes) -> bytes:
        header = struct.pack("<Q", len(data))
        return (
            header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))
        )

    out = [frame(event_pb2.Event(wall_time=start_wall, file_version="brain.Event:2").SerializeToString())]
    for step, wall, tags in scalars:
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=t, simple_value=v) for t, v in tags.items()]
        )
        out.append(frame(event_pb2.Event(wall_time=wall, step=step, summary=summary).SerializeToString()))
    return b"".join(out)


class _Writer:
    def __init__(self, durable: bool) -> None:
        self.durable = durable

    def json(self, path: Path, value: Any, indent: int | None = 2) -> None:
        atomic_write_json(path, value, indent=indent, durable=self.durable)

    def text(self, path: Path, text: str) -> None:
        atomic_write_text(path, text, durable=self.durable)


def _summary(
    rng: random.Random,
    sid: str,
    start: datetime,
    hours: float,
    step: int,
    sharpe: float,
    dsr: float,
    p: float,
    rss: float,
    vram: float,
    running: bool,
    n: int,
) -> dict[str, Any]:
    """The four summary shapes the bot has written over time, in rotation."""
    shape = 0 if running else n % 4  # a running session's rollup carries its progress (ETA)
    if shape == 2:
        return {"global_step": step, "rl_sharpe": sharpe, "dsr": dsr, "p_value": p}
    if shape == 3:
        return {"rl_sharpe": sharpe, "dsr": dsr, "p_value": p, "memory_peak": vram, "rss_peak": rss}
    sps = step / (hours * 3600) if hours else 0.0
    remaining = max(0, TOTAL_STEPS - step)
    inner = {
        "global_step": step, "wall_clock_duration_hours": round(hours, 3), "rss_peak_mb": rss, "vram_peak_mb": vram,
        "best_sharpe": sharpe, "best_dsr": dsr, "best_bootstrap_p_value": p, "acceptance_gate": {},
        "artifact_paths": {"metrics_json": f"artifacts/{sid}/metrics.json", "eval_files": [],
                           "metadata_json": f"artifacts/{sid}/run_metadata.json"},
    }  # fmt: skip
    doc: dict[str, Any] = {
        "correlation_id": sid,
        "timestamp": _jst(start + timedelta(hours=hours)),
        "metadata": {"version": "1.0.0", "timestamp": _jst(start), "run_id": sid, "type": "training"},
        "metrics": {}, "evaluations": {}, "summary": inner,
    }  # fmt: skip
    if running:
        eta_s = remaining / sps if sps else 0
        doc["progress"] = {
            "steps_per_sec": round(sps, 2), "eta": f"{eta_s:.0f}s", "pct": round(step / TOTAL_STEPS, 3),
            "completion_time": _jst(start + timedelta(hours=hours, seconds=eta_s)),
        }  # fmt: skip
    if shape == 1:  # the newer rollup copies summary.* to the top level
        doc.update({k: v for k, v in inner.items() if k not in ("acceptance_gate", "artifact_paths")})
    if rng.random() < 0.15:  # some rollups ran before evaluation: nulls, as in the real fixture
        inner["best_sharpe"] = inner["best_dsr"] = inner["best_bootstrap_p_value"] = None
        for key in ("best_sharpe", "best_dsr", "best_bootstrap_p_value"):
            doc.pop(key, None)
    return doc


def _gates(rng: random.Random, failed: bool, rss: float, n: int) -> dict[str, Any]:
    critical = failed and rng.random() < 0.5
    if n % 2:
        gates: list[dict[str, Any]] = [
            {"name": "sharpe_min", "status": "fail" if failed and not critical else "pass"},
            {"name": "memory_rss", "status": "fail" if critical else "pass"},
            {"name": "dsr_min", "status": "pass"},
            {"name": "drawdown_max", "status": "skip"},
        ]
        for g in gates:
            if g["status"] == "fail":
                g["error"] = (
                    "RSS over budget (critical)" if g["name"] == "memory_rss" else "Sharpe 0.21 < 0.50"
                )
        return {"gates": gates}
    rss_bytes = int(rss * 2**20)
    results: dict[str, dict[str, Any]] = {
        "memory_rss": {"status": "fail" if critical else "pass", "value": rss_bytes, "threshold": 2 * 2**30,
                       "reason": f"RSS: {rss_bytes / 2**30:.2f}GB (threshold: 2.00GB)"},
        "no_dup_steps": {"status": "pass", "value": 0, "threshold": 0, "reason": "no duplicate steps"},
        "eval_sharpe": {"status": "fail" if failed and not critical else "pass", "value": 0.21, "threshold": 0.5,
                        "reason": "Sharpe: 0.21 (threshold: 0.50)"},
    }  # fmt: skip
    reasons = [f"FAIL: {k} - {v['reason']}" for k, v in results.items() if v["status"] == "fail"]
    return {"pass": not reasons, "reasons": reasons, "gate_results": results}


def _run_metadata(
    rng: random.Random, sid: str, start: datetime, seconds: float, gpus: int, n: int
) -> dict[str, Any]:
    model = GPU_MODELS[n % len(GPU_MODELS)]
    if n % 9 == 4:
        return {"system": {"os": "Windows-11", "gpu": model, "gpu_count": gpus}, "packages": {"torch": "2.4.1"},
                "git": {"commit": f"{rng.getrandbits(40):010x}"},
                "run_config": {"total_timesteps": TOTAL_STEPS, "n_envs": 8}, "duration_seconds": round(seconds, 1),
                "gpu_count": gpus}  # fmt: skip
    if n % 13 == 6:
        return {"correlation_id": "dummy", "system": {"os": "dummy"}, "packages": {}, "git": {}}
    return {"correlation_id": sid, "duration_seconds": round(seconds, 1), "gpu_count": gpus,
            "start_time": start.isoformat(timespec="seconds"), "gpu_model": model}  # fmt: skip


def _logs(rng: random.Random, sid: str, start: datetime, step: int, failed: bool) -> dict[str, str]:
    lines, watch, alerts = [], [], []
    points = 12
    for i in range(1, points + 1):
        t = start + timedelta(minutes=10 * i)
        s = step * i // points
        lines.append(f"{_jst(t)}+09:00 INFO [train] Step {s}/{TOTAL_STEPS} fps={rng.randint(150, 320)}")
        if failed and i == points - 1:
            lines.append(f"{_jst(t)}+09:00 ERROR [train] CUDA out of memory while allocating 512.00 MiB")
            watch.append(
                {
                    "timestamp": t.isoformat(),
                    "correlation_id": sid,
                    "level": "ERROR",
                    "alert_type": "memory",
                    "message": "RSS above 2GB threshold",
                    "details": {"rss_mb": 2600},
                }
            )
        if rng.random() < 0.08:
            watch.append({"timestamp": _jst(t), "correlation_id": sid, "level": "WARN", "alert_type": "throughput",
                          "message": "fps dropped below 150", "details": {}})  # fmt: skip
    if failed:
        t = start + timedelta(minutes=10 * points + 1)
        lines.append(f"{t.isoformat()} CRITICAL [watchdog] training process exited with code 1")
        alerts.append(
            {
                "timestamp": t.isoformat(),
                "level": "CRITICAL",
                "alert_type": "process_exit",
                "message": "training exited with code 1",
                "path": f"artifacts/{sid}/logs/train.log",
            }
        )
    return {
        "train.log": "\n".join(lines) + "\n",
        "watch_log.jsonl": "".join(json.dumps(w, ensure_ascii=False) + "\n" for w in watch),
        "ops_alerts.jsonl": "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in alerts),
    }


def _tb_scalars(
    rng: random.Random, step: int, start: datetime, sps: float
) -> list[tuple[int, float, dict[str, float]]]:
    out = []
    reward = -5.0
    for s in range(2048, max(step, 2048) + 1, 2048 * 4):
        reward += rng.uniform(-0.2, 0.5)
        wall = start.timestamp() + s / max(sps, 1.0)
        out.append((s, wall, {"rollout/ep_rew_mean": reward, "train/loss": abs(rng.gauss(0.05, 0.02)),
                              "time/fps": sps + rng.uniform(-10, 10)}))  # fmt: skip
    return out


def _eval_returns(seed: int, sharpe: float, days: int = 250) -> dict[str, Any]:
    """Daily returns of a backtest whose annualised Sharpe is near ``sharpe``, with fat, skewed tails.

    Its own random stream, so adding it changes none of the other demo values.
    """
    rng = random.Random(seed)
    sd = 0.01
    mean = sharpe / math.sqrt(252) * sd
    out = []
    for _ in range(days):
        r = rng.gauss(mean, sd)
        if rng.random() < 0.03:  # rare crashes: negative skew, excess kurtosis
            r -= rng.uniform(2, 4) * sd
        out.append(round(r, 6))
    return {"returns": out, "period": "1d", "source": "ztb demo"}


def _live_state(w: _Writer, state: Path, end: datetime) -> None:
    day = end.astimezone(default_tz()).date().isoformat()
    w.json(
        state / "trade-state.json",
        {"phase": 2, "consecutiveDays": 5, "totalSuccess": 15, "lastDate": day, "ordersPerDay": 3},
    )
    w.json(state / "trade-config.json", {
        "pair": "btc_jpy", "phase": 2, "maxOrdersPerDay": 5, "maxLossPerDay": 2, "slippageGuardPct": 1e-7,
        "phaseSteps": [{"phase": 1, "ordersPerDay": 1}, {"phase": 2, "ordersPerDay": 3}, {"phase": 3, "ordersPerDay": 5}],
    })  # fmt: skip
    w.json(state / "stats.json", {"date": day, "data": [
        {"pair": "btc_jpy", "stats": {"trades": 10, "wins": 7, "realizedPnl": 15000, "maxDrawdown": 4200}},
        {"pair": "eth_jpy", "stats": {"trades": 4, "wins": 2, "realizedPnl": 5000, "maxDrawdown": 1800}},
    ]})  # fmt: skip


def _check_replaceable(path: Path) -> None:
    if path.exists() and any(path.iterdir()) and not (path / MARKER).exists():
        raise UsageError(
            "--out-dir: {path} exists and was not made by `ztb demo`; refusing to replace it (choose an empty "
            "or new folder)", path=path,
        )  # fmt: skip


def build_demo(
    out_dir: str | os.PathLike[str],
    *,
    sessions: int = 36,
    seed: int = 7,
    end: datetime = DEFAULT_END,
    tb_sessions: int = 4,
    with_logs: bool = True,
    durable: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    """Write the demo tree under ``out_dir`` (``artifacts/`` and ``state/``) and return where it is.

    The tree is built beside the target and swapped in, so a killed run leaves the old demo intact.
    """
    if sessions < 1:
        raise UsageError("--sessions must be at least 1, got {sessions}", sessions=sessions)
    root = Path(out_dir)
    artifacts, state = root / "artifacts", root / "state"
    for folder in (artifacts, state):
        _check_replaceable(folder)
    try:
        make_folders(root)
    except OSError as exc:
        raise OutputPathError(
            "--out-dir: {path}: cannot create the folder: {reason}",
            path=root,
            reason=os_reason(exc),
        ) from None
    staging = root / f".artifacts.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    rng = random.Random(seed)
    w = _Writer(durable)
    span_days = max(14, min(60, sessions))  # several weeks
    starts = sorted(end - timedelta(days=rng.uniform(0.3, span_days)) for _ in range(sessions))
    index_sessions: list[dict[str, Any]] = []
    for n, start in enumerate(starts):
        start = start.replace(microsecond=0)
        sid = start.strftime("%Y%m%dT%H%M%SZ")
        while (staging / sid).exists():
            start += timedelta(seconds=1)
            sid = start.strftime("%Y%m%dT%H%M%SZ")
        folder = staging / sid
        running = n >= sessions - 2 and sessions > 2
        failed = not running and rng.random() < 0.18
        gpus = 2 if rng.random() < 0.15 else 1
        sps = rng.uniform(140, 320) * gpus
        hours = rng.uniform(0.8, 3.0) if running else rng.uniform(1.0, 10.0)
        if failed:
            hours *= rng.uniform(0.2, 0.6)
        step = min(TOTAL_STEPS, int(sps * hours * 3600) // 2048 * 2048)
        progress_frac = n / max(1, sessions - 1)
        sharpe = round(rng.gauss(0.3 + 1.4 * progress_frac, 0.35), 4)
        hp = sweep_params(n, sessions)  # the demo's sweep: variation for the compare report
        sharpe = round(sharpe + sweep_effect(hp), 4) if hp else sharpe
        dsr = round(min(0.99, max(0.01, rng.gauss(0.35 + 0.5 * progress_frac, 0.12))), 4)
        p = round(min(0.5, max(0.001, rng.gauss(0.2 - 0.15 * progress_frac, 0.05))), 4)
        rss = round(rng.uniform(900, 1900) if not failed else rng.uniform(1800, 2800), 1)
        vram = round(rng.uniform(3000, 9000) * gpus, 1)
        summary = _summary(rng, sid, start, hours, step, sharpe, dsr, p, rss, vram, running, n)
        if n == sessions // 3 and sessions >= 6:
            # The bot writes summary.json in place; a crash mid-write leaves it cut short.
            w.text(folder / "summary.json", json.dumps(summary, indent=2)[:150])
        else:
            w.json(folder / "summary.json", summary)
        seconds = hours * 3600
        w.json(folder / "metrics.json", {
            "global_step": step, "wall_clock_duration": round(seconds, 1), "rss_peaks": [round(rss * 0.8, 1), rss],
            "vram_peaks": [round(vram * 0.9, 1), vram], "steps": step, "elapsed_time": round(seconds, 1),
            "tb_latest": {"rollout/ep_rew_mean": round(rng.uniform(-3, 3), 3), "time/fps": round(sps, 1)},
        })  # fmt: skip
        meta = _run_metadata(rng, sid, start, seconds, gpus, n)  # drawn for every session: the same bytes
        w.json(
            folder / "run_metadata.json", sweep_run_metadata(sid, start, seconds, gpus, hp) if hp else meta
        )
        if not running:
            w.json(folder / "reports" / "gates.json", _gates(rng, failed, rss, n))
            w.text(folder / "ztb.stop", f"stopped {_jst(start + timedelta(hours=hours))}\n")
        if not running and n % 3 == 0:  # an evaluation return series: the leaderboard's "from data" path
            w.json(folder / "eval_returns.json", _eval_returns(seed * 1000 + n, sharpe), indent=None)
        if n < 3:  # old sessions estimated by an earlier tool: the flat cost shape
            w.json(
                folder / "reports" / "cost_estimate.json",
                {"total_cost_jpy": round(hours * 300 * gpus, 1), "gpu_hours": round(hours * gpus, 3)},
            )
        if with_logs:
            for name, text in _logs(rng, sid, start, step, failed).items():
                w.text(folder / "logs" / name, text)
        if n >= sessions - tb_sessions:
            data = tb_event_file_bytes(_tb_scalars(rng, step, start, sps), start.timestamp())
            fname = f"events.out.tfevents.{int(start.timestamp())}.demo-pc.{4000 + n}.0"
            atomic_write_bytes(folder / "tb" / fname, data, durable=durable)
        status = "running" if running else ("failed" if failed else "stopped")
        index_sessions.append({
            "correlation_id": sid, "created_at": start.isoformat(timespec="seconds"),
            "modified_at": (start + timedelta(hours=hours)).isoformat(timespec="seconds"),
            "size_mb": round(rng.uniform(5, 80), 1), "latest_step": step, "status": status, "is_best": False,
            "metrics": {"rl_sharpe": sharpe}, "paths": {"summary": f"{sid}/summary.json"},
        })  # fmt: skip
        if running and "progress" in summary:
            index_sessions[-1]["eta"] = summary["progress"]["eta"]
        if progress is not None and ((n + 1) % 500 == 0 or n + 1 == sessions):
            progress(n + 1, sessions)
    best = sorted(index_sessions, key=lambda e: e["metrics"]["rl_sharpe"], reverse=True)[:3]
    for e in best:
        e["is_best"] = True
    if sessions >= 6:  # pruned by hand, still listed: the dashboard shows it as missing
        gone = (starts[0] - timedelta(days=3)).strftime("%Y%m%dT%H%M%SZ")
        index_sessions.append({"correlation_id": gone, "created_at": (starts[0] - timedelta(days=3)).isoformat(),
                               "latest_step": 4096, "status": "stopped", "is_best": False})  # fmt: skip
    index_sessions.sort(key=lambda e: e["correlation_id"], reverse=True)
    w.json(staging / "index.json", {
        "generated_at": end.isoformat(), "latest": index_sessions[0]["correlation_id"],
        "best": [e["correlation_id"] for e in best], "sessions": index_sessions,
    })  # fmt: skip
    w.text(staging / MARKER, f"made by `ztb demo --seed {seed} --sessions {sessions}`\n")
    _swap_in(staging, artifacts)
    _live_state(w, state, end)
    w.text(state / MARKER, "made by `ztb demo`\n")
    return DemoResult(root=root, artifacts_dir=artifacts, state_dir=state, sessions=sessions)


def _swap_in(staging: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
