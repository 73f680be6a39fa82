"""Benchmark: the HTML with interactive learning curves, 100 sessions × 10 tags, in real Chromium.

Builds ``--sessions`` sessions, each with one TensorBoard file of ``--tags`` tags at ``--points``
steps (bench_curves.py's generator), renders the dashboard twice in the same run: baseline with the
curves disabled, and with every session's curves. Then opens both pages in Debian's
/usr/bin/chromium (network off) and measures page size, the load event, and for the curves page the
time until every uPlot chart is drawn (``data-ready`` on the curves block). Best of ``--repeat``.

    python benchmarks/bench_interactive.py [--sessions 100] [--tags 10] [--points 5000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_curves import build, tag_names

from ztbkit.reports.runner import render_notebook

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
LOAD = (
    "() => { const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime; }"
)


def _measure(page_file: Path, repeat: int, curves: bool) -> tuple[float, float]:
    """(best load event ms, best ms until the charts are drawn) over ``repeat`` fresh page loads."""
    from playwright.sync_api import sync_playwright

    loads, ready = [], []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for _ in range(repeat):
            context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.perf_counter()
            page.goto(page_file.as_uri())
            if curves:
                page.wait_for_selector(".ztb-curves[data-ready='1']", state="attached", timeout=600_000)
            ready.append((time.perf_counter() - t0) * 1000)
            loads.append(page.evaluate(LOAD))
            assert errors == [], errors
            if curves:
                n = page.evaluate("() => document.querySelector('.ztb-curves').ztbCharts.length")
                assert n > 0
            context.close()
        browser.close()
    return min(loads), min(ready)


def run(sessions: int, tags: int, points: int, data: Path, repeat: int = 3) -> dict[str, float]:
    names = tag_names(tags)
    artifacts = build(data, sessions, names, points)
    out = Path(tempfile.mkdtemp(prefix="ztb-bench-interactive-"))
    cases = {
        "baseline": {"curves": {"enabled": False}},
        "curves": {"curves": {"tags": names, "sessions": sessions, "max_points": 2000, "highlight": None}},
    }
    result: dict[str, float] = {"sessions": sessions, "tags": tags, "points": points}
    for name, params in cases.items():
        t0 = time.perf_counter()
        r = render_notebook("dashboard", artifacts_dir=artifacts, out_dir=out / name, parameters=params,
                            formats=("html",), cell_timeout=24 * 3600)  # fmt: skip
        assert r.status == "ok", r.error
        result[f"{name}_render_s"] = time.perf_counter() - t0
        page = out / name / "dashboard.html"
        result[f"{name}_kb"] = page.stat().st_size / 1024
        load_ms, ready_ms = _measure(page, repeat, curves=name == "curves")
        result[f"{name}_load_ms"] = load_ms
        result[f"{name}_ready_ms"] = ready_ms
    result["extra_kb"] = result["curves_kb"] - result["baseline_kb"]
    result["load_ratio"] = result["curves_load_ms"] / result["baseline_load_ms"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--tags", type=int, default=10)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    args = ap.parse_args()
    result = run(args.sessions, args.tags, args.points, args.data, args.repeat)
    for key, value in result.items():
        print(f"{key:>20}: {value:.2f}" if isinstance(value, float) else f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
