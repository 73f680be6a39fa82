"""Generate a large artifact tree with the bot's mixed shapes for the benchmarks.

Reuses the demo builder (nested/flat/rollup-copy summaries, four run_metadata shapes, both gates
shapes, index in the real writer's shape, one truncated summary, one index-only entry) without logs
or TensorBoard files, which the loader does not read.

    python benchmarks/gen_tree.py --sessions 10000 --out benchmarks/data/tree-10000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ztbkit.data.demo import MARKER, build_demo


def ensure_tree(out: Path, sessions: int, seed: int = 11) -> Path:
    """The artifacts folder of a generated tree, generating it only when missing or different."""
    marker = out / "artifacts" / MARKER
    wanted = f"made by `ztb demo --seed {seed} --sessions {sessions}`\n"
    if not (marker.is_file() and marker.read_text(encoding="utf-8") == wanted):
        t0 = time.perf_counter()
        build_demo(out, sessions=sessions, seed=seed, tb_sessions=0, with_logs=False, durable=False)
        print(
            f"generated {sessions} sessions in {time.perf_counter() - t0:.1f} s under {out}", file=sys.stderr
        )
    return out / "artifacts"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or Path(__file__).parent / "data" / f"tree-{args.sessions}"
    print(ensure_tree(out, args.sessions))


if __name__ == "__main__":
    main()
