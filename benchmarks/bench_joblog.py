"""Benchmark: a job printing a lot, through the runner's capped log (``ztbkit.schedule.logs``) against
the job's output going straight to a file (the baseline: what cronish did before logs were capped
during a run). Measured in the same run, same job, same bytes:

* wall time of the job with its output pumped through ``CappedLog`` (rotating at ``--log-max-mb``)
  against the same job writing to an open file. The ratio is the price of the cap.
* the log space left behind: the capped logs stay under 4 × the limit; the baseline keeps it all.

    python benchmarks/bench_joblog.py [--mb 100] [--limit-mb 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ztbkit.schedule.logs import CappedLog


def job(mb: int) -> list[str]:
    code = f"import sys\nb = ('x' * 1023 + '\\n') * 1024\nfor _ in range({mb}): sys.stdout.write(b)\n"
    return [sys.executable, "-c", code]


def run(mb: int = 100, limit_mb: float = 5, data: Path | None = None) -> dict[str, Any]:
    import tempfile

    base = data or Path(tempfile.mkdtemp(prefix="ztb-bench-joblog-"))
    base.mkdir(parents=True, exist_ok=True)
    direct = base / "direct.log"
    t0 = time.perf_counter()
    with direct.open("ab") as fh:
        subprocess.run(job(mb), stdout=fh, stderr=subprocess.STDOUT, check=True)
    baseline = time.perf_counter() - t0
    capped_dir = base / "capped"
    t0 = time.perf_counter()
    with CappedLog(capped_dir / "job.log", int(limit_mb * 2**20)) as log:
        proc = subprocess.Popen(job(mb), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        log.pump(proc.stdout)
        proc.wait()
        log.finish()
        proc.stdout.close()
    capped = time.perf_counter() - t0
    kept = sum(p.stat().st_size for p in capped_dir.iterdir())
    return {"mb": mb, "limit_mb": limit_mb, "baseline_s": baseline, "capped_s": capped,
            "ratio": capped / baseline, "baseline_log_mb": direct.stat().st_size / 2**20,
            "capped_logs_mb": kept / 2**20, "rotations": log.rotations}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--limit-mb", type=float, default=5)
    args = ap.parse_args()
    r = run(args.mb, args.limit_mb)
    print(f"{r['mb']} MB of job output: straight to a file {r['baseline_s']:.2f} s ({r['baseline_log_mb']:.0f} MB "
          f"kept); through the capped log {r['capped_s']:.2f} s ({r['capped_logs_mb']:.1f} MB kept, "
          f"{r['rotations']} rotations); ratio {r['ratio']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
