"""Benchmark: the test suite in one process against the suite as `make test` runs it (pytest-xdist
workers, the timing-sensitive tests one serial unit on one of them), one after the other in this run.

Target (issue 29): `make test` at most 0.6x of the one-process time on the 2-core machine. Both runs
take the same tests in the same random order (one pytest-randomly seed). Printed: each wall time, the
ratio, the tests each run counted (they must be the same), and what bounds the parallel run: its
serial unit's length (the SERIAL tests of tests/conftest.py, run one after another on one worker)
and half of the whole suite's test time. The load average before and after each run is printed too:
on a shared machine a ratio means little when the load changed between the runs. pytest's cache
stays on, as in `make test`: the parallel run hands out its work longest first by the durations the
runs before it kept there (tests/conftest.py).

    python benchmarks/bench_suite.py                       # the whole suite (16+ minutes, then ~10)
    python benchmarks/bench_suite.py -- tests/test_ids.py  # a subset: pytest's own arguments after --
    python benchmarks/bench_suite.py --parallel-first      # swap the order (interleave two sittings)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from importlib.util import find_spec, module_from_spec, spec_from_file_location
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2  # the Makefile's PYTEST_WORKERS


def serial_rule(tests_dir: Path) -> Callable[[str], bool]:
    """``is_serial`` of the suite's own conftest.py, so the benchmark and the scheduler agree."""
    spec = spec_from_file_location("_bench_suite_conftest", tests_dir / "conftest.py")
    assert spec is not None and spec.loader is not None, f"no conftest.py in {tests_dir}"
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    rule: Callable[[str], bool] = module.is_serial
    return rule


def pytest_run(
    workers: int, junit: Path, pytest_args: Sequence[str], seed: int | None, cwd: Path
) -> dict[str, Any]:
    """One pytest run; its wall time, exit code and the load average around it."""
    # The cache stays on, as in `make test`: the parallel run orders its work by the durations kept
    # there (tests/conftest.py), which the one-process run, first by default, has just refreshed.
    argv = [sys.executable, "-m", "pytest", "-n", str(workers), "-q", f"--junitxml={junit}"]
    argv += [f"--randomly-seed={seed}"] if seed is not None else []
    argv += pytest_args
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, encoding="utf-8", errors="replace")
    wall = time.monotonic() - t0
    summary = next((ln for ln in reversed(r.stdout.splitlines()) if ln.startswith("=") or " in " in ln), "")
    return {"wall_s": round(wall, 2), "exit": r.returncode, "summary": summary.strip("= "),
            "load_before": load_before, "load_after": os.getloadavg()[0],
            "tail": "" if r.returncode == 0 else (r.stdout + r.stderr)[-3000:]}  # fmt: skip


def cases(junit: Path) -> dict[str, tuple[float, str]]:
    """nodeid -> (seconds, outcome) from a JUnit XML report (setup + call + teardown per test)."""
    out: dict[str, tuple[float, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        cls = parts.pop() if parts and parts[-1][:1].isupper() else None  # tests.test_x.TestY
        nodeid = "/".join(parts) + ".py::" + (f"{cls}::" if cls else "") + case.get("name", "")
        kinds = {child.tag for child in case}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        out[nodeid] = (float(case.get("time", 0)), outcome)
    return out


def run(
    pytest_args: Sequence[str] = (),
    workers: int = WORKERS,
    parallel_first: bool = False,
    cwd: Path = REPO,
    tests_dir: Path | None = None,
    work: Path | None = None,
) -> dict[str, Any]:
    is_serial = serial_rule(tests_dir or cwd / "tests")
    seed = random.randrange(2**32) if find_spec("pytest_randomly") else None
    with tempfile.TemporaryDirectory() as tmp:
        base = work or Path(tmp)
        order = [("parallel", workers), ("one_process", 0)]
        if not parallel_first:
            order.reverse()
        runs = {name: pytest_run(n, base / f"{name}.xml", pytest_args, seed, cwd) for name, n in order}
        seen = {name: cases(base / f"{name}.xml") for name, _ in order}
    result: dict[str, Any] = {"seed": seed, "workers": workers, "order": [name for name, _ in order]}
    for name, r in runs.items():
        counts = {
            k: sum(1 for _, o in seen[name].values() if o == k) for k in ("passed", "failed", "skipped")
        }
        result[name] = {**r, **counts}
    one, par = runs["one_process"]["wall_s"], runs["parallel"]["wall_s"]
    result["ratio"] = round(par / one, 3) if one else None
    result["same_tests"] = set(seen["one_process"]) == set(seen["parallel"])
    times = seen["parallel"]
    result["serial_unit_s"] = round(sum(t for nid, (t, _) in times.items() if is_serial(nid)), 1)
    result["serial_unit_tests"] = sum(1 for nid in times if is_serial(nid))
    result["all_tests_s"] = round(sum(t for t, _ in times.values()), 1)
    result["bound_s"] = round(max(result["serial_unit_s"], result["all_tests_s"] / workers), 1)
    result["slowest"] = [
        [nid, round(t, 1)]
        for nid, (t, _) in sorted(seen["one_process"].items(), key=lambda kv: -kv[1][0])[:15]
    ]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog="Arguments after -- go to both pytest runs."
    )
    parser.add_argument("--workers", type=int, default=WORKERS, help="xdist workers, as `make test` (2)")
    parser.add_argument("--parallel-first", action="store_true", help="run the parallel suite first")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args, rest = parser.parse_known_args()
    pytest_args = rest[1:] if rest[:1] == ["--"] else rest
    result = run(pytest_args, workers=args.workers, parallel_first=args.parallel_first)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name in result["order"]:
            r = result[name]
            print(f"{name:12} {r['wall_s']:8.1f} s  exit {r['exit']}  {r['passed']} passed, {r['failed']} failed, "
                  f"{r['skipped']} skipped  (load {r['load_before']:.1f} -> {r['load_after']:.1f})")  # fmt: skip
        print(f"ratio        {result['ratio']}x  (parallel / one process; target <= 0.6x)")
        print(f"serial unit  {result['serial_unit_s']} s over {result['serial_unit_tests']} tests; all tests "
              f"{result['all_tests_s']} s / {result['workers']} workers: the wall time cannot go below "
              f"{result['bound_s']} s")  # fmt: skip
        print("slowest (one process):")
        for nid, t in result["slowest"]:
            print(f"  {t:7.1f} s  {nid}")
    failed = [n for n in result["order"] if result[n]["exit"] != 0]
    for name in failed:
        print(f"{name}: pytest exit {result[name]['exit']}: not a fair comparison\n{result[name]['tail']}",
              file=sys.stderr)  # fmt: skip
    if not result["same_tests"]:
        print("the two runs did not run the same tests: not a fair comparison", file=sys.stderr)
    sys.exit(1 if failed or not result["same_tests"] else 0)


if __name__ == "__main__":
    main()
