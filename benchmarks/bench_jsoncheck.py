"""Benchmark: what the duplicate-key check costs ztbkit's JSON reader (#25).

Every JSON file of the ``bench_load`` tree is read into memory first; then, alternating to share
cache and CPU conditions, the median of ``--repeat`` passes of
:func:`ztbkit.core.jsonread.parse_json_bytes` over all of them:

* baseline: the reader with the check switched off (orjson alone, as before #25);
* ztbkit: the reader as shipped (orjson, the ``":`` count against orjson's own output, and only for a
  file with more separators than its value, the standard library's second parse to name the keys).

    python benchmarks/bench_jsoncheck.py [--sessions 10000] [--repeat 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_load import json_files
from gen_tree import ensure_tree

from ztbkit.core import jsonread


def run(sessions: int, repeat: int, data: Path) -> dict[str, float]:
    root = ensure_tree(data / f"tree-{sessions}", sessions)
    blobs = [(str(f), f.read_bytes()) for f in json_files(root)]
    shipped: Callable[[bytes, Any], bool] = jsonread._more_separators

    def parse_all(check: Callable[[bytes, Any], bool]) -> float:
        jsonread._more_separators = check
        try:
            t0 = time.perf_counter()
            for name, blob in blobs:
                jsonread.parse_json_bytes(blob, name)
            return time.perf_counter() - t0
        finally:
            jsonread._more_separators = shipped

    def off(data: bytes, value: Any) -> bool:
        return False

    parse_all(off), parse_all(shipped)  # warm up
    base, ours = [], []
    for _ in range(repeat):
        base.append(parse_all(off))
        ours.append(parse_all(shipped))
    b, z = statistics.median(base), statistics.median(ours)
    return {"files": len(blobs), "baseline_s": b, "ztbkit_s": z, "ratio": z / b,
            "per_file_us": (z - b) / len(blobs) * 1e6}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    args = ap.parse_args()
    r = run(args.sessions, args.repeat, args.data)
    print(f"json files={r['files']:.0f} repeat={args.repeat}")
    print(f"baseline (reader without the check): {r['baseline_s']:.3f} s")
    print(
        f"ztbkit (reader with the check):      {r['ztbkit_s']:.3f} s  (+{r['per_file_us']:.1f} µs per file)"
    )
    print(f"ratio: {r['ratio']:.2f}x")


if __name__ == "__main__":
    main()
