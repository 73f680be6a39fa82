"""Benchmark: learning curves for many long runs rendered into the dashboard.

Builds a demo tree of ``--sessions`` sessions and gives each one TensorBoard event file with
``--tags`` scalar tags logged at ``--points`` steps, one event per tag and step as ``add_scalar``
writes (one file is generated with tensorboardX's protobuf messages and hard-linked into every
session, so generation does not dominate and the disk holds one copy; the reader still parses every
session's file, and the curve cache keeps one entry per session). Then, in the same run, with the
curve cache empty at first, renders the dashboard notebook four times:

* baseline: curves disabled (``-p curves '{"enabled": false}'``), leaderboard on (it reads the same
  files for ``eval/return`` when a session has no ``eval_*.json``);
* curves: every session's curves, all tags (``sessions = --sessions``), 2000 points per series — the
  first night, every file decoded whole;
* curves_warm: the same again, nothing changed — the second night, every series from the cache;
* curves_appended: 1% more steps appended to every file first — the third night, only they are read.

Reported: the render times, their ratios to the baseline, the cache size, the points and the page
sizes; then, in this process and without the cache, where the extra time goes: ``read_s`` (parse the
event files and downsample: linear in points), ``plot_s`` (figure + PNG from the downsampled series:
independent of run length) and, when the run is small enough, ``plot_full_s`` (the same figure without
downsampling). The issue's case is 100 sessions × 10 tags × 100k steps (the default, 10⁸ points).

    python benchmarks/bench_curves.py [--sessions 100] [--tags 10] [--points 100000]

``--floor``: instead, the reader against protobuf's decode floor on one multi-tag file written by
tensorboardX's ``SummaryWriter`` (one event per ``add_scalar``, as PyTorch and Stable-Baselines3
write), ``--tags`` × ``--points`` points, all in this process, rounds interleaved, best of ``--rounds``:

* ``floor``: ``Event.FromString`` over every record's bytes (read and framed beforehand), nothing else;
* ``floor_crc``: the same plus each record's CRC32C, as the reader checks it;
* ``reader``: ``tb_series.read_file`` (framing, CRCs, decode into arrays per tag);
* ``curves``: ``read_curves`` without the cache (the reader, one value per step, reduction, downsampling);
* ``before``: the per-record protobuf reader the curves used before (``scan_file(keep_points=True)``).

    python benchmarks/bench_curves.py --floor [--tags 10] [--points 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ztbkit.data.demo import build_demo, tb_event_file_bytes
from ztbkit.reports.runner import render_notebook

EVENT_NAME = "events.out.tfevents.1759500000.bench.1.0"


def tag_names(tags: int) -> list[str]:
    base = ["rollout/ep_rew_mean", "eval/mean_reward", "train/loss", "time/fps"]
    return (base + [f"train/extra_{i}" for i in range(max(0, tags - len(base)))])[:tags]


def event_file(path: Path, tags: list[str], points: int, seed: int = 5, first: int = 0) -> Path:
    """One event file with ``points`` steps, one event per tag and step (as tensorboardX's and
    PyTorch's ``add_scalar`` write, what Stable-Baselines3 uses); ``first``: append steps from there."""
    if path.is_file() and not first:
        return path
    rng = random.Random(seed + first)
    chunk = 10_000
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab" if first else "wb") as fh:
        for lo in range(first, first + points, chunk):
            scalars = [
                (s * 2048, 1.7e9 + s, {t: math.sin(s / 500 + i) + rng.gauss(0, 0.1)})
                for s in range(lo, min(lo + chunk, first + points))
                for i, t in enumerate(tags)
            ]
            data = tb_event_file_bytes(scalars, 1.7e9)
            fh.write(data if lo == 0 and not first else data[data.index(b"brain.Event:2") + 17 :])
    return path


def build(data: Path, sessions: int, tags: list[str], points: int) -> Path:
    root = data / f"curves-{sessions}x{len(tags)}x{points}"
    artifacts = root / "artifacts"
    if not (artifacts / "index.json").is_file():
        build_demo(root, sessions=sessions, tb_sessions=0, with_logs=False, durable=False)
    source = event_file(data / f"source-{len(tags)}x{points}" / EVENT_NAME, tags, points)
    for folder in sorted(p for p in artifacts.iterdir() if p.is_dir() and not p.name.startswith(".")):
        target = folder / "tb" / EVENT_NAME
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                target.write_bytes(source.read_bytes())
    return artifacts


def run(sessions: int, tags: int, points: int, data: Path, long_points: int = 1_000_000) -> dict[str, float]:
    names = tag_names(tags)
    t0 = time.perf_counter()
    artifacts = build(data, sessions, names, points)
    gen_s = time.perf_counter() - t0
    out = Path(tempfile.mkdtemp(prefix="ztb-bench-curves-"))
    import matplotlib

    # The curve cache starts empty (night 1 is cold); matplotlib keeps its font cache, so the first
    # render (the baseline) does not rebuild it.
    os.environ.setdefault("MPLCONFIGDIR", matplotlib.get_cachedir())
    os.environ["XDG_CACHE_HOME"] = str(out / "cache")
    times: dict[str, float] = {}
    sizes: dict[str, int] = {}
    curves = {"curves": {"tags": names, "sessions": sessions, "max_points": 2000, "highlight": None}}
    cases: dict[str, dict[str, Any]] = {
        "baseline": {"curves": {"enabled": False}},
        "curves": curves,  # night 1: cold, every file read whole
        "curves_warm": curves,  # night 2: nothing new, every file from the cache
        "curves_appended": curves,  # night 3: 1% more steps in every file, only they are read
    }
    for name, params in cases.items():
        if name == "curves_appended":
            event_file(data / f"source-{len(names)}x{points}" / EVENT_NAME, names, max(1, points // 100),
                       first=points)  # fmt: skip
        t0 = time.perf_counter()
        result = render_notebook("dashboard", artifacts_dir=artifacts, out_dir=out / name, parameters=params,
                                 formats=("html",), cell_timeout=24 * 3600)  # fmt: skip
        times[name] = time.perf_counter() - t0
        assert result.status == "ok", result.error
        html = (out / name / "dashboard.html").read_text(encoding="utf-8")
        sizes[name] = len(html)
        if name.startswith("curves"):
            assert "Learning curves of" in html, "no learning-curves figure in the page"
    os.environ["ZTB_NO_CACHE"] = "1"  # reading measured whole
    split = split_times(artifacts, names, sessions * len(names) * (points + max(1, points // 100)))
    return {
        **split,
        **one_long_run(long_points),
        "sessions": sessions, "tags": tags, "points": points, "points_read": sessions * tags * points,
        "generate_s": gen_s, "baseline_s": times["baseline"], "curves_s": times["curves"],
        "curves_warm_s": times["curves_warm"], "curves_appended_s": times["curves_appended"],
        "ratio": times["curves"] / times["baseline"],
        "ratio_warm": times["curves_warm"] / times["baseline"],
        "ratio_appended": times["curves_appended"] / times["baseline"],
        "cache_mb": sum(f.stat().st_size for f in (out / "cache").rglob("*.npz")) / 2**20,
        "load_average": os.getloadavg()[0],
        "extra_s_per_session": (times["curves"] - times["baseline"]) / sessions,
        "html_kb_baseline": sizes["baseline"] / 1024, "html_kb_curves": sizes["curves"] / 1024,
    }  # fmt: skip


def _best_png_time(fig_maker: Any, repeat: int = 2) -> float:
    from ztbkit.reports.blocks import figure_png

    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fig = fig_maker()
        assert fig is not None
        figure_png(fig)
        best = min(best, time.perf_counter() - t0)
    return best


def split_times(artifacts: Path, names: list[str], total_points: int) -> dict[str, float]:
    """Reading vs plotting, measured directly (the notebook render above includes both).

    Plot times are the best of 2 after a warm-up figure (fonts, caches), downsampled and full
    alternating, so neither pays matplotlib's first-figure cost.
    """
    from ztbkit.analysis.curves import curves_figure, session_curves
    from ztbkit.data.artifacts import load_artifacts

    sessions = [s for s in load_artifacts(artifacts).sessions if s.on_disk]
    t0 = time.perf_counter()
    data = [session_curves(s, names) for s in sessions]
    read_s = time.perf_counter() - t0
    hl = sessions[-1].session_id
    _best_png_time(lambda: curves_figure(data[:1], names[:1], hl), repeat=1)  # warm-up
    out = {"read_s": read_s, "read_us_per_point": read_s / total_points * 1e6,
           "plot_s": _best_png_time(lambda: curves_figure(data, names, hl))}  # fmt: skip
    if total_points <= 5_000_000 and os.environ.get("ZTB_BENCH_FULL_PLOT", "1") == "1":
        full = [session_curves(s, names, max_points=10**9) for s in sessions]
        out["plot_full_s"] = _best_png_time(lambda: curves_figure(full, names, hl))
    return out


def one_long_run(points: int = 1_000_000) -> dict[str, float]:
    """One 1M-point series (the highlighted run, one tag): plot it whole vs downsampled."""
    import numpy as np

    from ztbkit.analysis.curves import SessionCurves, _downsample_np, curves_figure

    rng = np.random.default_rng(3)
    steps, values = np.arange(points) * 10, np.cumsum(rng.normal(size=points))
    t0 = time.perf_counter()
    small = _downsample_np(steps, values, 2000)
    downsample_s = time.perf_counter() - t0
    whole = SessionCurves("run", {"t": (steps.tolist(), values.tolist())})
    part = SessionCurves("run", {"t": small})
    _best_png_time(lambda: curves_figure([part], ["t"], "run"), repeat=1)  # warm-up
    return {"long_points": points, "long_downsample_s": downsample_s,
            "long_plot_downsampled_s": _best_png_time(lambda: curves_figure([part], ["t"], "run")),
            "long_plot_whole_s": _best_png_time(lambda: curves_figure([whole], ["t"], "run"))}  # fmt: skip


def writer_file(folder: Path, tags: list[str], points: int) -> Path:
    """A file written by tensorboardX's SummaryWriter: every tag at every step, one event each."""
    existing = sorted(folder.glob("events.out.tfevents.*"))
    if existing:
        return existing[0]
    from tensorboardX import SummaryWriter

    rng = random.Random(5)
    writer = SummaryWriter(str(folder), flush_secs=3600, max_queue=10_000)
    for s in range(points):
        for i, t in enumerate(tags):
            writer.add_scalar(t, math.sin(s / 500 + i) + rng.gauss(0, 0.1), s * 2048)
    writer.close()
    return sorted(folder.glob("events.out.tfevents.*"))[0]


def floor(tags: int, points: int, data: Path, rounds: int) -> dict[str, float]:
    """The reader against protobuf's decode floor on the same file, best of ``rounds`` interleaved."""
    import struct

    import google_crc32c
    from tensorboardX.proto import event_pb2

    from ztbkit.analysis.curves import read_curves
    from ztbkit.data.tb_events import scan_file
    from ztbkit.data.tb_series import read_file

    names = tag_names(tags)
    path = writer_file(data / f"writer-{tags}x{points}", names, points)
    raw = path.read_bytes()
    payloads, pos = [], 0
    while pos + 12 <= len(raw):
        (length,) = struct.unpack_from("<Q", raw, pos)
        payloads.append(raw[pos + 12 : pos + 12 + length])
        pos += 16 + length
    decode, crc = event_pb2.Event.FromString, google_crc32c.value

    def floor_only() -> None:
        for p in payloads:
            decode(p)

    def floor_crc() -> None:
        for p in payloads:
            crc(p)
            decode(p)

    cases = {
        "floor": floor_only,
        "floor_crc": floor_crc,
        "reader": lambda: read_file(path, 0, set(names)),
        "curves": lambda: read_curves(path.parent, names, cache=False),
        "before": lambda: scan_file(path, keep_points=True, tags=names),
    }
    found = read_file(path, 0, set(names))
    total = sum(len(v) for v in found.steps.values())
    assert total == tags * points, (total, tags * points)
    best = dict.fromkeys(cases, math.inf)
    for _ in range(rounds):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    us = {f"{k}_us_per_point": v / total * 1e6 for k, v in best.items()}
    return {"file_mb": len(raw) / 2**20, "records": len(payloads), "points": total, **us,
            "reader_vs_floor": best["reader"] / best["floor"],
            "reader_vs_floor_crc": best["reader"] / best["floor_crc"],
            "curves_vs_floor_crc": best["curves"] / best["floor_crc"],
            "before_vs_reader": best["before"] / best["reader"],
            "load_average": os.getloadavg()[0]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--tags", type=int, default=10)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    ap.add_argument("--floor", action="store_true", help="the reader against the protobuf decode floor")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.floor:
        points = args.points if args.points != 100_000 else 20_000
        print(json.dumps(floor(args.tags, points, args.data, args.rounds), indent=2))
        return
    result = run(args.sessions, args.tags, args.points, args.data)
    print(json.dumps(result, indent=2), file=sys.stdout)


if __name__ == "__main__":
    main()
