"""Benchmark: `ztb nightly` on 1,000 demo sessions against one empty notebook through the same path.

Baseline, same run: an empty notebook (a parameters cell only) rendered by the same runner
(`render_reports`: child process, papermill, a real kernel, nbconvert HTML + Markdown). The nightly
renders trends CSV/Markdown, the budget (pricing new runs), and the four report notebooks in
parallel. A warm-up run prices every session first, as the first night would; the median of
``--repeat`` runs after it is reported. Target (issue 3): the nightly at most 3x the empty notebook.

    python benchmarks/bench_nightly.py [--sessions 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))

from ztbkit.data.demo import build_demo
from ztbkit.ops.nightly import run_nightly
from ztbkit.reports.runner import render_reports


def empty_notebook(folder: Path) -> Path:
    cell = nbformat.v4.new_code_cell('artifacts_dir: str = "artifacts"  # parameter')
    cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "empty.ipynb"
    nbformat.write(nb, path)
    return path


def run(sessions: int, repeat: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="ztb-bench-nightly-"))
    build_demo(work / "demo", sessions=sessions, tb_sessions=0)
    artifacts = work / "demo" / "artifacts"
    empty = empty_notebook(work)

    def baseline() -> float:
        t0 = time.perf_counter()
        [r] = render_reports([str(empty)], artifacts_dir=artifacts, out_dir=work / "empty")
        assert r.status == "ok", r.error
        return time.perf_counter() - t0

    def nightly() -> float:
        t0 = time.perf_counter()
        result = run_nightly(artifacts, work / "out", date_text="2025-10-31")
        assert result.ok, [s.line() for s in result.steps if s.status != "ok"]
        return time.perf_counter() - t0

    first_night = nightly()  # prices all sessions, like the first night
    baseline()
    base, ours = [], []
    for _ in range(repeat):
        base.append(baseline())
        ours.append(nightly())
    b, n = statistics.median(base), statistics.median(ours)
    return {"sessions": sessions, "empty_s": b, "nightly_s": n, "ratio": n / b, "first_night_s": first_night}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    r = run(args.sessions, args.repeat)
    print(f"sessions={r['sessions']} repeat={args.repeat}")
    print(f"one empty notebook (same runner): {r['empty_s']:.2f} s")
    print(f"ztb nightly (all reports):        {r['nightly_s']:.2f} s  (first night, pricing every run: "
          f"{r['first_night_s']:.2f} s)")  # fmt: skip
    print(f"ratio: {r['ratio']:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
