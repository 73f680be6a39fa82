"""Benchmark: latest scalar values from a 1,000,000-event TensorBoard log.

The log (10 tags × 100,000 steps, one event per point as Stable-Baselines3 writes them, about 50 MB)
is generated once with tensorboardX's protobuf messages and TFRecord framing. Measured in the same run:

* ztbkit's first scrape (no cache) against TensorBoard's own EventAccumulator
  (``size_guidance={"scalars": 0}``, then the last point of every tag). Target: at least 10x faster.
* a re-scrape with nothing new (cache) against the first scrape. Target: at least 50x faster.

    python benchmarks/bench_tb.py [--steps 100000] [--tags 10]
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from pathlib import Path

from ztbkit.data.tb_events import masked_crc
from ztbkit.data.tensorboard import scrape


def frame(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))


def generate(folder: Path, steps: int, tags: int) -> Path:
    from tensorboardX.proto import event_pb2, summary_pb2

    path = folder / "run" / "events.out.tfevents.1700000000.bench.1.0"
    marker = folder / "run" / f".complete-{steps}-{tags}"
    if marker.exists():
        return path.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f"train/metric_{i}" for i in range(tags)]
    with open(path, "wb") as fh:
        fh.write(frame(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()))
        for step in range(steps):
            chunk = []
            for i, name in enumerate(names):
                summary = summary_pb2.Summary(
                    value=[summary_pb2.Summary.Value(tag=name, simple_value=step * 0.001 + i)]
                )
                chunk.append(
                    frame(
                        event_pb2.Event(
                            wall_time=1.7e9 + step, step=step, summary=summary
                        ).SerializeToString()
                    )
                )
            fh.write(b"".join(chunk))
    marker.write_text("", encoding="utf-8")
    return path.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--tags", type=int, default=10)
    ap.add_argument("--data", type=Path, default=Path(__file__).parent / "data" / "tb")
    args = ap.parse_args()
    t0 = time.perf_counter()
    run = generate(args.data, args.steps, args.tags)
    size = sum(f.stat().st_size for f in run.glob("events.out.tfevents*"))
    print(
        f"log: {args.steps * args.tags:,} scalar events, {size / 2**20:.1f} MB (ready in {time.perf_counter() - t0:.1f} s)"
    )

    cache = args.data / "cache.json"
    cache.unlink(missing_ok=True)
    t0 = time.perf_counter()
    first = scrape(run, cache=cache)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = scrape(run, cache=cache)
    again_s = time.perf_counter() - t0
    assert again.runs == first.runs and again.bytes_read == 0

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    t0 = time.perf_counter()
    ea = EventAccumulator(str(run), size_guidance={"scalars": 0})
    ea.Reload()
    ea_latest = {tag: ea.Scalars(tag)[-1] for tag in ea.Tags()["scalars"]}
    ea_s = time.perf_counter() - t0
    ours = first.runs["."]
    assert all(abs(ours[t][2] - p.value) < 1e-6 and ours[t][0] == p.step for t, p in ea_latest.items()), (
        "results differ"
    )
    print(
        f"EventAccumulator: {ea_s:.2f} s; ztbkit first scrape: {first_s:.2f} s -> {ea_s / first_s:.1f}x (target >= 10x)"
    )
    print(
        f"re-scrape, nothing new: {again_s * 1000:.1f} ms -> {first_s / again_s:.0f}x the first scrape (target >= 50x)"
    )


if __name__ == "__main__":
    sys.exit(main())
