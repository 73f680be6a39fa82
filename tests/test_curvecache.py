"""Learning curves read fast and kept between nights: the array decoder equals protobuf's decode on
hostile records, and the incremental series cache equals a full read (TensorBoard's EventAccumulator
is the reference) through appends, half-written records, truncation, replacement, kill -9 and a
corrupt cache file."""

from __future__ import annotations

import math
import os
import random
import signal
import struct
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ztbkit.analysis.curves import read_curves
from ztbkit.data import curvecache
from ztbkit.data.curvecache import CurveCacheWarning, default_path, folder_series, reduce
from ztbkit.data.tb_events import masked_crc, scan_file
from ztbkit.data.tb_series import read_file

TAGS = ["rollout/ep_rew_mean", "train/loss", "eval/mean_reward", "time/fps"]
BIG = 10**6  # max_points so large that nothing is reduced: the series is every point


def frame(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked_crc(header)) + payload + struct.pack("<I", masked_crc(payload))


def write_steps(writer: Any, steps: range, seed: int = 1) -> None:
    rng = random.Random(seed)
    for s in steps:
        for i, tag in enumerate(TAGS):
            writer.add_scalar(tag, math.sin(s / 7 + i) + rng.gauss(0, 0.3), s * 10)
    writer.flush()


def reference(folder: Path) -> dict[str, tuple[list[int], list[float]]]:
    """EventAccumulator's every scalar point (no sampling), one per step (its last), by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    ea.Reload()
    out = {}
    for tag in ea.Tags()["scalars"]:
        by_step = {e.step: e.value for e in ea.Scalars(tag) if math.isfinite(e.value)}
        out[tag] = (sorted(by_step), [by_step[s] for s in sorted(by_step)])
    return out


def as_lists(series: dict[str, tuple[Any, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    return {t: ([int(x) for x in s], [float(x) for x in v]) for t, (s, v) in series.items()}


def by_tag(points: list[tuple[str, int, float, float]] | None) -> dict[str, tuple[list[int], list[float]]]:
    out: dict[str, tuple[list[int], list[float]]] = {}
    for tag, step, _wall, value in points or ():
        out.setdefault(tag, ([], []))[0].append(step)
        out[tag][1].append(value)
    return out


def same_as_protobuf(path: Path) -> None:
    """The array reader gives exactly the per-record protobuf reader's points and problems."""
    fast = read_file(path, 0, None)
    slow = scan_file(path, keep_points=True)
    expected = by_tag(slow.points)
    assert sorted(fast.steps) == sorted(expected)
    for tag, (steps, values) in expected.items():
        assert fast.steps[tag].tolist() == steps, tag
        np.testing.assert_array_equal(fast.values[tag], np.array(values))
    assert [(p.path, p.reason) for p in fast.problems] == [(p.path, p.reason) for p in slow.problems]
    assert fast.offset == slow.offset
    # ... and every point in file order with its wall time, as iter_points yields them.
    assert fast.order_tags is not None and fast.order_steps is not None
    assert fast.order_walls is not None and fast.order_values is not None
    order = [
        (fast.tags[i], s, w, repr(v))
        for i, s, w, v in zip(
            fast.order_tags.tolist(),
            fast.order_steps.tolist(),
            fast.order_walls.tolist(),
            fast.order_values.tolist(),
            strict=True,
        )
    ]
    assert order == [(t, s, w, repr(v)) for t, s, w, v in slow.points or ()]


def read_and_cache(folder: Path) -> Path:
    """read_curves, then the cache file it wrote; if none was written, say everything that decides it
    (a run in the full suite once found none here and passed alone)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = read_curves(folder, TAGS, BIG)
    path = default_path(folder, TAGS, BIG)
    assert path.is_file(), (
        f"no cache at {path}: ZTB_NO_CACHE={os.environ.get('ZTB_NO_CACHE')!r} "
        f"XDG_CACHE_HOME={os.environ.get('XDG_CACHE_HOME')!r} tags read={sorted(got)} "
        f"files={sorted((p.name, p.stat().st_size) for p in folder.rglob('*') if p.is_file())} "
        f"warnings={[str(w.message) for w in caught]} "
        f"cache folder={sorted(os.listdir(path.parent)) if path.parent.is_dir() else None}"
    )
    return path


def test_tensorboardx_file_decoded_as_protobuf_does(tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(tmp_path), flush_secs=3600)
    write_steps(w, range(300))
    w.add_scalars("group", {"a": 1.0, "b": float("nan")}, 5)  # other runs' files, NaN kept
    w.add_scalar("neg/step", 2.5, -3)  # a negative step is a ten-byte varint
    w.add_scalar("zero/step", 0.0, 0)  # step 0 is absent from the record
    w.add_scalar("big/step", 1.0, 2**62)
    w.add_scalar("日本語/タグ", float("inf"), 1)
    w.add_histogram("hist", np.arange(10), 3)  # not a scalar
    w.close()
    for path in sorted(tmp_path.rglob("events.out.tfevents*")):
        same_as_protobuf(path)


def test_multi_value_events_tensors_and_metadata_once(tmp_path: Path) -> None:
    """TensorBoard's own writer: several values an event, TF2 tensors whose plugin is named on the
    first event only, a value with metadata beside a simple_value: each as protobuf reads it."""
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path))
    for step in range(50):
        values = [summary_pb2.Summary.Value(tag=f"m/{i}", simple_value=step * i) for i in range(5)]
        t = summary_pb2.Summary.Value(
            tag="tf2/scalar", tensor=tensor_pb2.TensorProto(dtype=1, float_val=[step])
        )
        o = summary_pb2.Summary.Value(
            tag="other/plugin", tensor=tensor_pb2.TensorProto(dtype=1, float_val=[1])
        )
        if step == 0:
            t.metadata.plugin_data.plugin_name = "scalars"
            o.metadata.plugin_data.plugin_name = "histograms"
            values[0].metadata.plugin_data.plugin_name = "scalars"
        writer.add_event(event_pb2.Event(step=step, wall_time=1.7e9 + step,
                                         summary=summary_pb2.Summary(value=[*values, t, o])))  # fmt: skip
    writer.add_event(event_pb2.Event(step=51, wall_time=float("nan"),
                                     summary=summary_pb2.Summary(value=[values[1]])))  # fmt: skip
    writer.close()
    path = next(tmp_path.glob("events.out.tfevents*"))
    same_as_protobuf(path)
    fast = read_file(path, 0, None)
    assert "other/plugin" not in fast.steps and fast.steps["tf2/scalar"].tolist() == list(range(50))
    assert any("not finite" in p.reason for p in fast.problems)


def test_hostile_bytes_with_valid_crcs_decode_as_protobuf(tmp_path: Path) -> None:
    """Bytes changed inside records (CRCs recomputed, so only the decoder can tell): whatever
    protobuf makes of them, the array reader makes the same, record for record."""
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(tmp_path / "src"), flush_secs=3600)
    write_steps(w, range(40))
    w.close()
    raw = next((tmp_path / "src").glob("events*")).read_bytes()
    records, pos = [], 0
    while pos + 12 <= len(raw):
        (length,) = struct.unpack_from("<Q", raw, pos)
        records.append(bytearray(raw[pos + 12 : pos + 12 + length]))
        pos += 16 + length
    rng = random.Random(29)
    for trial in range(60):
        mutated = [bytearray(r) for r in records]
        for _ in range(rng.randint(1, 6)):
            r = mutated[rng.randrange(1, len(mutated))]
            r[rng.randrange(len(r))] = rng.choice(
                [0x00, 0x09, 0x0A, 0x10, 0x15, 0x2A, 0x80, 0xFF, rng.randrange(256)]
            )
        path = tmp_path / f"t{trial}" / "events.out.tfevents.1.x"
        path.parent.mkdir()
        path.write_bytes(b"".join(frame(bytes(r)) for r in mutated))
        same_as_protobuf(path)

    # Shapes protobuf reads differently from the common one: the last of two simple_values wins, a
    # tensor after a simple_value takes the oneof, a field after the Summary, a step given twice.
    def summary(*values: bytes) -> bytes:
        body = b"".join(b"\x0a" + bytes([len(v)]) + v for v in values)
        return b"\x2a" + bytes([len(body)]) + body

    tag, one, two = b"\x0a\x01t", struct.pack("<f", 1.0), struct.pack("<f", 2.0)
    tensor = b"\x08\x01\x2a\x04" + struct.pack("<f", 3.0)  # dtype DT_FLOAT, float_val [3.0]
    crafted = [
        summary(tag + b"\x15" + one + b"\x15" + two),
        summary(tag + b"\x15" + one + b"\x42" + bytes([len(tensor)]) + tensor),
        summary(tag + b"\x15" + one) + b"\x1a\x01x",
        summary(tag + b"\x15" + one) + b"\x10\x07",
        summary(tag + b"\x15" + one, b"\x0a\x01u\x15" + two + b"\x0a\x01v"),  # tag given twice
    ]
    path = tmp_path / "crafted" / "events.out.tfevents.1.x"
    path.parent.mkdir()
    path.write_bytes(b"".join(frame(b"\x09" + struct.pack("<d", 1.7e9) + b"\x10\x05" + c) for c in crafted))
    same_as_protobuf(path)


def test_corrupt_record_and_torn_tail_reported_as_protobuf_reader(tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(tmp_path / "src"), flush_secs=3600)
    write_steps(w, range(30))
    w.close()
    raw = bytearray(next((tmp_path / "src").glob("events*")).read_bytes())
    raw[400] ^= 0xFF  # a data byte: that record's CRC fails
    path = tmp_path / "events.out.tfevents.2.x"
    path.write_bytes(bytes(raw) + frame(b"\x09" + bytes(8))[:20])  # and a record still being written
    same_as_protobuf(path)
    assert any("bad CRC" in p.reason or "corrupt" in p.reason for p in read_file(path, 0, None).problems)


def test_reduce_is_canonical_whatever_the_appends() -> None:
    """Reducing in pieces (as nights append) equals reducing everything at once, and each bucket keeps
    its first, last, lowest and highest point."""
    rng = np.random.default_rng(4)
    steps = np.cumsum(rng.integers(1, 50, size=20_000)).astype(np.int64)
    values = np.cumsum(rng.normal(size=20_000))
    whole = reduce(steps, values, 100)
    for cuts in ([5_000, 5_001, 19_999], [1, 2, 3, 10_000], list(range(0, 20_000, 1_234))):
        s, v, shift = steps[:0], values[:0], 0
        for lo, hi in zip([0, *cuts], [*cuts, 20_000], strict=True):
            s, v, shift = reduce(
                np.concatenate([s, steps[lo:hi]]), np.concatenate([v, values[lo:hi]]), 100, shift
            )
        assert (s.tolist(), v.tolist(), shift) == (whole[0].tolist(), whole[1].tolist(), whole[2])
    assert len(np.unique(whole[0] >> whole[2])) <= 100 and len(whole[0]) <= 400
    assert values.max() in whole[1] and values.min() in whole[1] and whole[0][-1] == steps[-1]


def _cold(folder: Path, max_points: int = BIG) -> dict[str, tuple[list[int], list[float]]]:
    return as_lists(read_curves(folder, TAGS, max_points, cache=False))


def test_append_between_reads_equals_event_accumulator(tmp_path: Path) -> None:
    """Night 1 reads the file; training appends (and leaves a record half-written); night 2 reads only
    the new bytes; the record completes; night 3 reads it. Every night equals EventAccumulator."""
    from tensorboardX import SummaryWriter

    folder = tmp_path / "tb"
    w = SummaryWriter(str(folder), flush_secs=3600)
    write_steps(w, range(200))
    path = next(folder.glob("events*"))
    cache = default_path(folder, TAGS, BIG)
    first = folder_series(folder, TAGS, BIG, cache)
    assert first.files_whole == 1 and as_lists(first.series) == reference(folder)
    write_steps(w, range(200, 260), seed=2)
    w.close()
    size = path.stat().st_size
    # A record the writer has not finished: only its first bytes are there.
    from tensorboardX.proto import event_pb2, summary_pb2

    value = summary_pb2.Summary.Value(tag=TAGS[0], simple_value=1.0)
    torn = frame(event_pb2.Event(wall_time=1.8e9, step=10_000, summary=summary_pb2.Summary(value=[value]))
                 .SerializeToString())  # fmt: skip
    with open(path, "ab") as fh:
        fh.write(torn[:17])
    offset = curvecache.load(cache, str(folder), TAGS, BIG)[path.name].offset
    second = folder_series(folder, TAGS, BIG, cache)
    assert (second.files_grown, second.files_whole) == (1, 0)
    assert second.bytes_read == size + 17 - offset < size / 3  # only the new bytes were read
    assert as_lists(second.series) == reference(folder) == _cold(folder)
    with open(path, "ab") as fh:
        fh.write(torn[17:])
    third = folder_series(folder, TAGS, BIG, cache)
    assert third.files_grown == 1 and third.bytes_read == len(torn)
    assert as_lists(third.series) == reference(folder) == _cold(folder)
    assert third.series[TAGS[0]][0][-1] == 10_000
    fourth = folder_series(folder, TAGS, BIG, cache)
    assert (fourth.files_unchanged, fourth.bytes_read) == (1, 0)


def test_reduced_series_through_appends_equals_a_cold_read(tmp_path: Path) -> None:
    """Long runs are reduced (here to 64 buckets a file and tag): night after night of appends gives
    exactly what reading the whole file once gives, and the dashboard's series is bounded."""
    from tensorboardX import SummaryWriter

    folder = tmp_path / "tb"
    w = SummaryWriter(str(folder), flush_secs=3600)
    for night in range(4):
        write_steps(w, range(night * 500, night * 500 + 500 + night), seed=night)
        warm = read_curves(folder, TAGS, 64)
        assert as_lists(warm) == _cold(folder, 64)
        assert all(len(s) <= 64 for s, _v in warm.values())
    w.close()


def test_truncated_replaced_or_rewritten_file_is_read_from_zero(tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter

    folder = tmp_path / "tb"
    w = SummaryWriter(str(folder), flush_secs=3600)
    write_steps(w, range(300))
    w.close()
    path = next(folder.glob("events*"))
    cache = default_path(folder, TAGS, BIG)
    folder_series(folder, TAGS, BIG, cache)
    raw = path.read_bytes()
    with open(path, "r+b") as fh:  # truncated mid-record
        fh.truncate(len(raw) // 2)
    got = folder_series(folder, TAGS, BIG, cache)
    assert got.files_whole == 1 and as_lists(got.series) == reference(folder) == _cold(folder)
    # Replaced by another run's file that happens to be longer: another inode, read from zero.
    other = tmp_path / "other"
    w = SummaryWriter(str(other), flush_secs=3600)
    write_steps(w, range(400), seed=9)
    w.close()
    os.replace(next(other.glob("events*")), path)
    got = folder_series(folder, TAGS, BIG, cache)
    assert got.files_whole == 1 and as_lists(got.series) == reference(folder) == _cold(folder)
    # Rewritten in place, longer, with different first bytes (same inode): read from zero.
    third = tmp_path / "third"
    w = SummaryWriter(str(third), flush_secs=3600)
    write_steps(w, range(500), seed=11)
    w.close()
    longer = next(third.glob("events*")).read_bytes()
    assert len(longer) > path.stat().st_size
    with open(path, "r+b") as fh:
        fh.write(longer)
    got = folder_series(folder, TAGS, BIG, cache)
    assert got.files_whole == 1 and as_lists(got.series) == reference(folder) == _cold(folder)


def test_steps_going_back_in_an_appended_file_read_from_zero(tmp_path: Path) -> None:
    """Training resumed from an earlier checkpoint into the same file: the step written again keeps its
    new value, as a cold read (and EventAccumulator's last value per step) has it."""
    from tensorboardX import SummaryWriter

    folder = tmp_path / "tb"
    w = SummaryWriter(str(folder), flush_secs=3600)
    write_steps(w, range(100))
    read_curves(folder, TAGS, BIG)
    write_steps(w, range(50, 120), seed=5)
    w.close()
    assert as_lists(read_curves(folder, TAGS, BIG)) == _cold(folder) == reference(folder)


@pytest.mark.parametrize("damage", ["garbage", "torn", "foreign-folder", "bad-offset"])
def test_corrupt_cache_warns_once_and_is_rebuilt(tmp_path: Path, damage: str) -> None:
    from tensorboardX import SummaryWriter

    folder = tmp_path / "tb"
    w = SummaryWriter(str(folder), flush_secs=3600)
    write_steps(w, range(100))
    w.close()
    cache = read_and_cache(folder)
    raw = cache.read_bytes()
    if damage == "garbage":
        cache.write_bytes(b"\x00not a cache\xff" * 50)
    elif damage == "torn":
        cache.write_bytes(raw[: len(raw) // 2])
    elif damage == "foreign-folder":
        other = tmp_path / "tb2"
        other.mkdir()
        (other / path_name(folder)).write_bytes(next(folder.glob("events*")).read_bytes())
        read_curves(other, TAGS, BIG)
        cache.write_bytes(default_path(other, TAGS, BIG).read_bytes())
    else:
        text = raw.replace(b'"offset": ', b'"offset": 9')
        cache.write_bytes(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = read_curves(folder, TAGS, BIG)
    shown = [w for w in caught if issubclass(w.category, CurveCacheWarning)]
    assert len(shown) == 1 and str(cache) in str(shown[0].message), [str(w.message) for w in caught]
    assert as_lists(got) == reference(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CurveCacheWarning)
        assert as_lists(read_curves(folder, TAGS, BIG)) == reference(folder)  # rebuilt: no warning now


def path_name(folder: Path) -> str:
    return next(folder.glob("events*")).name


_CHILD = """
import sys
from pathlib import Path
from tensorboardX import SummaryWriter
from ztbkit.analysis.curves import read_curves
folder, tags = Path(sys.argv[1]), sys.argv[2].split(",")
w = SummaryWriter(str(folder), flush_secs=3600)
step = int(sys.argv[3])
while True:
    for _ in range(50):
        for i, t in enumerate(tags):
            w.add_scalar(t, step * 0.5 + i, step)
        step += 1
    w.flush()
    read_curves(folder, tags, 64)
    print(step, flush=True)
"""


def test_kill_9_while_the_cache_is_written_leaves_a_correct_next_read(tmp_path: Path) -> None:
    """A process appending and re-reading (so writing the cache again and again) is killed at random
    moments, five times; each time the next read, with the cache, equals a cold read and EventAccumulator,
    with no warning (the cache is replaced whole or not at all)."""
    folder = tmp_path / "tb"
    rng = random.Random(9)
    step = 0
    for _round in range(5):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(folder), ",".join(TAGS), str(step)],
                                 stdout=subprocess.PIPE, text=True, env=os.environ.copy())  # fmt: skip
        assert child.stdout is not None
        for _ in range(rng.randint(1, 4)):
            line = child.stdout.readline()  # it has written the cache at least once
            assert line, "the writer died before it read anything"
        time.sleep(rng.uniform(0, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        with warnings.catch_warnings():
            warnings.simplefilter("error", CurveCacheWarning)
            warm = as_lists(read_curves(folder, TAGS, 64))
        assert warm == _cold(folder, 64)
        full = reference(folder)
        step = max(full[TAGS[0]][0]) + 1
        assert as_lists(read_curves(folder, TAGS, BIG, cache=False)) == full
    leftovers = [p.name for p in default_path(folder, TAGS, 64).parent.iterdir() if p.suffix != ".npz"]
    assert all(name.endswith(".tmp") for name in leftovers)  # a killed write leaves at most its temp file


_STALLED = """
import sys, time
from pathlib import Path
import ztbkit.core.fsio as fsio
from ztbkit.analysis.curves import read_curves
real = fsio._fill
def half(fd, data, durable):
    real(fd, data[: len(data) // 2], False)
    print("writing", flush=True)
    time.sleep(60)
fsio._fill = half
read_curves(Path(sys.argv[1]), sys.argv[2].split(","), 64)
print("read without writing the cache through fsio", flush=True)
"""


def test_kill_9_halfway_through_the_cache_write_keeps_the_old_cache(tmp_path: Path) -> None:
    """The same, at the worst moment: the new cache half written when the process dies. The next
    read finds the previous cache whole (no warning) and only then reads what was added."""
    from tensorboardX import SummaryWriter

    folder = tmp_path / "tb"
    w = SummaryWriter(str(folder), flush_secs=3600)
    write_steps(w, range(300))
    read_curves(folder, TAGS, 64)
    write_steps(w, range(300, 350), seed=3)
    w.close()
    child = subprocess.Popen([sys.executable, "-c", _STALLED, str(folder), ",".join(TAGS)],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None and child.stdout.readline() == "writing\n"
    child.send_signal(signal.SIGKILL)
    child.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CurveCacheWarning)
        got = folder_series(folder, TAGS, 64, default_path(folder, TAGS, 64))
    assert got.files_grown == 1 and as_lists(read_curves(folder, TAGS, 64)) == _cold(folder, 64)


_RACER = """
import sys, warnings
from pathlib import Path
from ztbkit.analysis.curves import read_curves
from ztbkit.data.curvecache import CurveCacheWarning
warnings.simplefilter("error", CurveCacheWarning)
for _ in range(int(sys.argv[3])):
    read_curves(Path(sys.argv[1]), sys.argv[2].split(","), 64)
"""


def test_two_reports_racing_on_one_cache_never_see_a_torn_one(tmp_path: Path) -> None:
    """The nightly renders its reports in parallel: two processes reading and rewriting the same cache
    while training appends, three rounds. Neither ever meets a broken cache; the end result is right."""
    from tensorboardX import SummaryWriter

    folder = tmp_path / "tb"
    w = SummaryWriter(str(folder), flush_secs=3600)
    for round_ in range(3):
        write_steps(w, range(round_ * 200, round_ * 200 + 200), seed=round_)
        racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(folder), ",".join(TAGS), "6"],
                                   stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
        write_steps(w, range(round_ * 200 + 200, round_ * 200 + 250), seed=round_ + 10)
        for racer in racers:
            _out, err = racer.communicate(timeout=120)
            assert racer.returncode == 0, err
        assert as_lists(read_curves(folder, TAGS, 64)) == _cold(folder, 64)
    w.close()


def test_no_cache_when_ztb_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorboardX import SummaryWriter

    folder = tmp_path / "tb"
    w = SummaryWriter(str(folder), flush_secs=3600)
    write_steps(w, range(20))
    w.close()
    monkeypatch.setenv("ZTB_NO_CACHE", "1")
    assert as_lists(read_curves(folder, TAGS, BIG)) == reference(folder)
    assert not default_path(folder, TAGS, BIG).exists()


def test_caches_unused_for_30_days_are_removed_and_used_ones_kept(tmp_path: Path) -> None:
    """The folder does not grow without end: a cache nobody read for 30 days goes when another is
    written; one read every night (but never rewritten, nothing new) stays."""
    from tensorboardX import SummaryWriter

    folders = []
    for name in ("shown", "new"):
        folder = tmp_path / name
        w = SummaryWriter(str(folder), flush_secs=3600)
        write_steps(w, range(20))
        w.close()
        folders.append(folder)
    shown = read_and_cache(folders[0])
    gone = shown.parent / "0123456789abcdef.npz"  # a session no longer shown
    gone.write_bytes(shown.read_bytes())
    old = time.time() - 31 * 86_400
    for p in (shown, gone):
        os.utime(p, (old, old))
    read_curves(folders[0], TAGS, BIG)  # nothing new: not rewritten, but marked used
    read_curves(folders[1], TAGS, BIG)  # another cache written: the unused one is removed
    assert shown.exists() and default_path(folders[1], TAGS, BIG).exists() and not gone.exists()


def test_tag_grouping_without_the_hash_gives_the_same_tags(tmp_path: Path) -> None:
    """The fallback used on a hash collision (grouping tags by their bytes) names every value's tag as
    the hashed grouping does, on tags of many lengths, prefixes of each other and non-UTF-8 bytes."""
    from ztbkit.data import tb_series

    tags = [
        b"a",
        b"ab",
        b"abcdefgh",
        b"abcdefghi",
        b"abcdefgh\x00",
        b"x" * 40,
        b"x" * 39 + b"y",
        b"\xff\xfe",
        "日本".encode(),
    ]
    rng = random.Random(3)
    blob, at, ln = b"", [], []
    for _ in range(500):
        t = rng.choice(tags)
        at.append(len(blob))
        ln.append(len(t))
        blob += t + bytes(rng.randrange(256) for _ in range(rng.randint(0, 9)))
    buf = np.frombuffer(blob + bytes(8), dtype=np.uint8)
    hashed: dict[bytes, int] = {}
    plain: dict[bytes, int] = {}
    a = tb_series._tag_ids(buf, np.array(at), np.array(ln), hashed)
    b = tb_series._tag_ids_by_length(buf, np.array(at), np.array(ln), plain)
    names_a = {i: t for t, i in hashed.items()}
    names_b = {i: t for t, i in plain.items()}
    got_a = [names_a.get(i) for i in a.tolist()]
    got_b = [names_b.get(i) for i in b.tolist()]
    want = [blob[s : s + n] for s, n in zip(at, ln, strict=True)]
    assert got_a == got_b == [w if w != b"\xff\xfe" else None for w in want]


def _events(values: list[float]) -> bytes:
    """An event file with one scalar per step and fixed wall times: same length whatever the values."""
    from tensorboardX.proto import event_pb2, summary_pb2

    out = [frame(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString())]
    for step, v in enumerate(values):
        value = summary_pb2.Summary.Value(tag=TAGS[0], simple_value=v)
        out.append(frame(event_pb2.Event(wall_time=1.7e9 + step, step=step,
                                         summary=summary_pb2.Summary(value=[value])).SerializeToString()))  # fmt: skip
    return b"".join(out)


@pytest.mark.parametrize("how", ["in-place", "cp-p"])
def test_same_size_rewrite_with_mtime_restored_is_read_again(tmp_path: Path, how: str) -> None:
    """A file rewritten to the same size past its first 4 KiB, its mtime put back (``touch -r``, or
    ``cp -p`` of an older copy over it: same inode): size, mtime and inode all match, yet the numbers
    changed. The change time (ctime) cannot be put back, so the next read is a whole one."""
    folder = tmp_path / "tb"
    folder.mkdir()
    path = folder / "events.out.tfevents.1700000000.host"
    old = [float(i) for i in range(400)]
    new = old[:300] + [-1.0] * 100
    older, newer = _events(old), _events(new)
    assert len(older) == len(newer) and older[:4096] == newer[:4096] and older != newer
    path.write_bytes(older)
    first = read_curves(folder, TAGS, BIG)
    assert [float(v) for v in first[TAGS[0]][1]] == old
    st = path.stat()
    time.sleep(0.02)  # ctime has a coarse clock (a few ms): the rewrite must fall in a later tick
    if how == "in-place":
        with open(path, "r+b") as fh:
            fh.write(newer)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        backup = tmp_path / "backup"
        backup.write_bytes(newer)
        os.utime(backup, ns=(st.st_atime_ns, st.st_mtime_ns))
        subprocess.run(["cp", "-p", str(backup), str(path)], check=True)
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    got = as_lists(read_curves(folder, TAGS, BIG))
    assert got == _cold(folder) and got[TAGS[0]][1] == new
