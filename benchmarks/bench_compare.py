"""Benchmark: the compare report on many sessions with many hyperparameters, against the dashboard.

Generates a tree of ``--sessions`` sessions (benchmarks/gen_tree.py) and gives every session a
backtest-envelope ``run_metadata.json`` with ``--hparams`` hyperparameters (half numbers, a quarter
text, a quarter whole numbers; every one varies), then renders, in the same run and on the same tree,
the dashboard notebook (baseline) and the compare notebook. Reported: both render times, the ratio,
the page sizes; and, in this process, the load with hyperparameters against without (the readers'
own cost).

    python benchmarks/bench_compare.py [--sessions 10000] [--hparams 20]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from gen_tree import ensure_tree

from ztbkit.reports.runner import render_notebook


def hparams_for(i: int, count: int, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in range(count):
        if k % 4 in (0, 1):
            out[f"float_{k}"] = round(rng.uniform(1e-5, 1.0), 6)
        elif k % 4 == 2:
            out[f"choice_{k}"] = rng.choice(["ppo", "a2c", "sac", "td3"])
        else:
            out[f"int_{k}"] = rng.choice([64, 128, 256, 512, 1024, 2048])
    return out


def with_hparams(root: Path, count: int, seed: int = 3) -> int:
    """Write each session's run_metadata.json with ``count`` hyperparameters; the number written."""
    rng = random.Random(seed)
    n = 0
    for i, folder in enumerate(
        sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    ):
        doc = {"correlation_id": folder.name,
               "payload": {"type": "training", "config": hparams_for(i, count, rng)}}  # fmt: skip
        (folder / "run_metadata.json").write_text(json.dumps(doc), encoding="utf-8")
        n += 1
    return n


def run(sessions: int, hparams: int, data: Path) -> dict[str, float]:
    from ztbkit.data.artifacts import load_artifacts

    root = ensure_tree(data / f"compare-tree-{sessions}", sessions)  # its own: run_metadata is rewritten
    plain = {s.session_id: s for s in load_artifacts(root).sessions}
    t0 = time.perf_counter()
    load_artifacts(root)
    load_plain_s = time.perf_counter() - t0
    written = with_hparams(root, hparams)
    t0 = time.perf_counter()
    tree = load_artifacts(root)
    load_hp_s = time.perf_counter() - t0
    assert all(len(s.hparams) == hparams for s in tree.sessions if s.on_disk and s.session_id in plain)
    out = Path(tempfile.mkdtemp(prefix="ztb-bench-compare-"))
    times: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for name in ("dashboard", "compare"):
        t0 = time.perf_counter()
        result = render_notebook(
            name, artifacts_dir=root, out_dir=out, formats=("html",), cell_timeout=24 * 3600
        )
        times[name] = time.perf_counter() - t0
        assert result.status == "ok", result.error
        sizes[name] = (out / f"{name}.html").stat().st_size
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert "Parallel coordinates" in page and page.count("hp.float_0") >= 1
    return {"sessions": sessions, "hparams": hparams, "sessions_with_hparams": written,
            "load_plain_s": load_plain_s, "load_hparams_s": load_hp_s,
            "dashboard_s": times["dashboard"], "compare_s": times["compare"],
            "ratio": times["compare"] / times["dashboard"],
            "dashboard_kb": sizes["dashboard"] / 1024, "compare_kb": sizes["compare"] / 1024}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--hparams", type=int, default=20)
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    args = ap.parse_args()
    result = run(args.sessions, args.hparams, args.data)
    for key, value in result.items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
