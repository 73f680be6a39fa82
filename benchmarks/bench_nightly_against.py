"""The warm and cold nightly of ``bench_incremental.py nightly``, this checkout against an older commit,
side by side in one run (issue 29: before/after ratios measured on the same machine load).

Each variant gets its own generated trees (10,000 and 100 sessions, identical), load cache and
``XDG_CACHE_HOME``; every night runs in a child process with that variant's ``src`` first on the path
(the notebooks' kernels inherit it), and only ``run_nightly`` is timed. First the cold night of each
10,000 tree, then one settling night each, then ``--repeat`` rounds of (100-session night; 10 sessions
changed; 10,000-session night) per variant, the variants' order alternating by round.

    python benchmarks/bench_nightly_against.py --ref 3d5ab50 [--repeat 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_incremental import change_sessions
from gen_tree import ensure_tree

HERE = Path(__file__).resolve().parents[1]
NIGHT = textwrap.dedent(
    """
    import json, resource, sys, time
    from ztbkit.data.loadcache import LoadCache
    from ztbkit.ops.nightly import run_nightly
    tree, out, cache = sys.argv[1:4]
    def cpu():
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    c = LoadCache(cache)
    t0, c0 = time.perf_counter(), cpu()
    r = run_nightly(tree, out, date_text="2025-10-31", cache=c)
    s, used = time.perf_counter() - t0, cpu() - c0  # CPU: this process, the report workers and kernels
    assert r.ok, [x.line() for x in r.steps if x.status != "ok"]
    print(json.dumps({"s": s, "cpu": used, "parsed": c.parsed}))
    """
)


def _export(ref: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(HERE), "archive", ref, "src"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def _night(src: Path, work: Path, variant: str, tree: Path, tag: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src), "XDG_CACHE_HOME": str(work / f"xdg-{variant}")}
    out = work / f"out-{variant}-{tag}"
    proc = subprocess.run([sys.executable, "-c", NIGHT, str(tree), str(out), str(work / f"{variant}-{tag}.parquet")],
                          env=env, capture_output=True, text=True, check=True)  # fmt: skip
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(ref: str, repeat: int, work: Path, warm_only: bool = False) -> dict[str, dict[str, Any]]:
    srcs = {"before": _export(ref, work / "ref"), "after": HERE / "src"}
    trees = {v: (ensure_tree(work / f"big-{v}", 10_000), ensure_tree(work / f"small-{v}", 100)) for v in srcs}
    res: dict[str, dict[str, Any]] = {v: {k: [] for k in ("small", "big", "parsed", "small_cpu", "big_cpu")}
                                      for v in srcs}  # fmt: skip
    for v, src in srcs.items():
        res[v]["cold"] = None if warm_only else _night(src, work, v, trees[v][0], "big")
    for v, src in srcs.items():  # settle: every run priced, the caches written (by this code)
        _night(src, work, v, trees[v][1], "small")
        _night(src, work, v, trees[v][0], "big")
    for r in range(repeat):
        for v in list(srcs) if r % 2 == 0 else list(srcs)[::-1]:
            small = _night(srcs[v], work, v, trees[v][1], "small")
            change_sessions(trees[v][0], 10)
            got = _night(srcs[v], work, v, trees[v][0], "big")
            for key, night in (("small", small), ("big", got)):
                res[v][key].append(night["s"])
                res[v][f"{key}_cpu"].append(night["cpu"])
            res[v]["parsed"].append(got["parsed"])
            print(f"round {r + 1} {v}: 100 sessions {small['s']:.1f} s ({small['cpu']:.1f} CPU s), 10,000 sessions "
                  f"{got['s']:.1f} s ({got['cpu']:.1f} CPU s) (load average {os.getloadavg()[0]:.1f})",
                  file=sys.stderr, flush=True)  # fmt: skip
    for v in srcs:
        med = {k: statistics.median(res[v][k]) for k in ("small", "big", "small_cpu", "big_cpu")}
        res[v]["ratio"] = med["big"] / med["small"]
        res[v]["cpu_ratio"] = med["big_cpu"] / med["small_cpu"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True, help="the older commit to measure against")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--work", type=Path, default=None, help="where the trees go (default: a new temporary folder)"
    )
    ap.add_argument("--warm-only", action="store_true", help="no cold night: --work from an earlier run")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ztb-bench-against-"))
    res = run(args.ref, args.repeat, work, args.warm_only)
    for v, r in res.items():
        big, small = statistics.median(r["big"]), statistics.median(r["small"])
        cold = f"cold {r['cold']['s']:.1f} s ({r['cold']['cpu']:.1f} CPU s); " if r["cold"] else ""
        print(f"{v:<6} {cold}warm 10,000 (10 changed, {max(r['parsed'])} parsed) {big:.1f} s against 100: "
              f"{small:.1f} s -> {r['ratio']:.2f}x (target <= 1.2x); CPU {statistics.median(r['big_cpu']):.1f} s "
              f"against {statistics.median(r['small_cpu']):.1f} s -> {r['cpu_ratio']:.2f}x; nights: "
              f"{', '.join(f'{x:.1f}' for x in r['big'])} / {', '.join(f'{x:.1f}' for x in r['small'])}")  # fmt: skip
    if res["after"]["cold"] and res["before"]["cold"]:
        print(f"cold: after/before {res['after']['cold']['s'] / res['before']['cold']['s']:.2f}")


if __name__ == "__main__":
    main()
