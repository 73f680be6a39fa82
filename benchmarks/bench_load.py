"""Benchmark: load a 10,000-session tree into the DataFrame and write trends.csv.

Baseline, measured in the same run on the same files: a bare loop of ``json.load`` over every JSON
file the loader reads (the file list is built before timing, so the baseline pays no listing cost).
Runs alternate baseline/ztbkit to share cache and CPU conditions; the median of ``--repeat`` runs is
reported. Target (issue 2): ztbkit within 1.5x of the baseline.

    python benchmarks/bench_load.py [--sessions 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gen_tree import ensure_tree

from ztbkit.analysis.trends import write_trends_csv
from ztbkit.data.artifacts import load_artifacts


def json_files(root: Path) -> list[Path]:
    files = [root / "index.json"]
    for session in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for name in ("summary.json", "metrics.json", "run_metadata.json", "reports/gates.json",
                     "reports/cost_estimate.json"):  # fmt: skip
            f = session / name
            if f.is_file():
                files.append(f)
    return files


def baseline(files: list[Path]) -> None:
    for f in files:
        with open(f, encoding="utf-8") as fh:
            try:  # noqa: SIM105 - a bare try keeps the baseline as cheap as it can be
                json.load(fh)
            except ValueError:
                pass  # the tree has one truncated summary on purpose


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(sessions: int, repeat: int, data: Path) -> dict[str, float]:
    root = ensure_tree(data / f"tree-{sessions}", sessions)
    files = json_files(root)
    out = Path(tempfile.mkdtemp()) / "trends.csv"

    def ztbkit_job() -> None:
        tree = load_artifacts(root)
        tree.to_dataframe()
        write_trends_csv(tree.sessions, out)

    parts = {"load": 0.0, "dataframe": 0.0, "csv": 0.0}

    def ztbkit_parts() -> None:
        t0 = time.perf_counter()
        tree = load_artifacts(root)
        t1 = time.perf_counter()
        tree.to_dataframe()
        t2 = time.perf_counter()
        write_trends_csv(tree.sessions, out)
        t3 = time.perf_counter()
        parts.update(load=t1 - t0, dataframe=t2 - t1, csv=t3 - t2)

    baseline(files), ztbkit_job()  # warm the page cache and imports
    base, ours = [], []
    for _ in range(repeat):
        base.append(timed(lambda: baseline(files)))
        ours.append(timed(ztbkit_job))
    ztbkit_parts()
    b, z = statistics.median(base), statistics.median(ours)
    return {
        "sessions": sessions,
        "json_files": len(files),
        "baseline_s": b,
        "ztbkit_s": z,
        "ratio": z / b,
        **parts,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    args = ap.parse_args()
    r = run(args.sessions, args.repeat, args.data)
    print(f"sessions={r['sessions']} json_files={r['json_files']} repeat={args.repeat}")
    print(f"baseline (bare json.load loop): {r['baseline_s']:.3f} s")
    print(f"ztbkit load+DataFrame+CSV:      {r['ztbkit_s']:.3f} s  "
          f"(load {r['load']:.3f}, DataFrame {r['dataframe']:.3f}, CSV {r['csv']:.3f})")  # fmt: skip
    print(f"ratio: {r['ratio']:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
