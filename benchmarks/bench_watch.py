"""Benchmark: one `ztb watch --once` evaluation on a 10,000-session tree plus a live state folder,
against `python -c pass` in the same run (the watch runs every minute: what does it cost a day?).

The tree comes from gen_tree.py (the demo builder: index.json in the real writer's shape with
running, stopped and failed sessions) and the demo's live state folder. A first evaluation learns the
tree and sends what fires to a local webhook server (127.0.0.1); the ``--repeat`` evaluations after
it are the steady state every minute: rules evaluated, state written, nothing new to send. Reported:
median wall time and CPU time (user + system of the child) of each, their ratio, and the CPU
seconds per day at one evaluation a minute.

    python benchmarks/bench_watch.py [--sessions 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from fakehook import FakeHook
from gen_tree import ensure_tree


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit code) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    code = subprocess.run(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), code


def run(sessions: int, repeat: int, data: Path | None = None) -> dict[str, float]:
    out = (data or Path(__file__).parent / "data") / f"tree-{sessions}"
    artifacts = ensure_tree(out, sessions)
    state = out / "state"
    config = out / "watch.toml"
    config.write_text(
        f'[live]\nstate_dir = "{state}"\n[training]\nartifacts_dir = "{artifacts}"\n', encoding="utf-8"
    )
    shutil.rmtree(out / ".ztb", ignore_errors=True)  # the first evaluation below really is the first
    hook = FakeHook()
    env = {**os.environ, "ZTB_DISCORD_WEBHOOK": hook.url()}
    ztb = [
        sys.executable,
        "-m",
        "ztbkit",
        "watch",
        "--once",
        "--config",
        str(config),
        "--state-dir",
        str(out),
    ]
    baseline = [sys.executable, "-c", "pass"]
    try:
        first = timed(ztb, out, env)
        sent_first = len(hook.seen)
        base, ours = [], []
        for _ in range(repeat):
            base.append(timed(baseline, out, env))
            ours.append(timed(ztb, out, env))
        assert all(code in (0, 1) for _, _, code in ours), ours
        sent_steady = len(hook.seen) - sent_first
    finally:
        hook.close()
    bw, bc = statistics.median(b[0] for b in base), statistics.median(b[1] for b in base)
    ow, oc = statistics.median(o[0] for o in ours), statistics.median(o[1] for o in ours)
    return {"sessions": sessions, "first_s": first[0], "sent_first": sent_first, "sent_steady": sent_steady,
            "base_wall": bw, "base_cpu": bc, "watch_wall": ow, "watch_cpu": oc}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    r = run(args.sessions, args.repeat)
    print(f"sessions={r['sessions']} repeat={args.repeat}")
    print(f"first evaluation (learns the tree, sends {r['sent_first']:.0f}): {r['first_s']:.2f} s")
    print(f"python -c pass:          wall {r['base_wall']:.3f} s  cpu {r['base_cpu']:.3f} s")
    print(f"ztb watch --once (idle): wall {r['watch_wall']:.3f} s  cpu {r['watch_cpu']:.3f} s  "
          f"(messages sent in steady state: {r['sent_steady']:.0f})")  # fmt: skip
    print(f"ratio: wall {r['watch_wall'] / r['base_wall']:.1f}x, cpu {r['watch_cpu'] / r['base_cpu']:.1f}x")
    print(f"cost at one evaluation a minute: {r['watch_cpu'] * 1440:.0f} CPU s/day "
          f"({r['watch_cpu'] * 1440 / 864:.2f}% of one core)")  # fmt: skip


if __name__ == "__main__":
    main()
