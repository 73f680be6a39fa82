"""The TensorBoard scraper against real writers, damaged files, and TensorBoard's own EventAccumulator."""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ztbkit.cli import cli
from ztbkit.core.jsonread import Problem
from ztbkit.data.tb_events import masked_crc, scan_file
from ztbkit.data.tensorboard import scalars_frame, scrape


def frame(data: bytes) -> bytes:
    """A TFRecord frame built with tensorboardX's own (pure Python) CRC32C, not ztbkit's."""
    from tensorboardX.record_writer import masked_crc32c

    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def test_the_framing_oracle_is_crc32c_and_agrees_with_masked_crc() -> None:
    from tensorboardX.crc32c import crc32c
    from tensorboardX.record_writer import masked_crc32c

    assert crc32c(b"123456789") == 0xE3069283  # the published CRC-32C (Castagnoli) check value
    assert crc32c(b"") == 0
    # TFRecord's mask: rotate right by 15, add 0xa282ead8 (mod 2**32), from TensorFlow's crc32c.h.
    for data in (b"", b"123456789", b"\x00" * 8, bytes(range(256)) * 3):
        c = crc32c(data)
        assert masked_crc(data) == masked_crc32c(data) == (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tf2_event(step: int, tag: str, value: float, *, kind: str = "float", first: bool = False) -> bytes:
    """A TF2 tf.summary.scalar event: a scalar tensor; the plugin is named on the tag's first event only."""
    from tensorboardX.proto import event_pb2, summary_pb2, tensor_pb2

    if kind == "float":
        tensor = tensor_pb2.TensorProto(dtype=1, float_val=[value])
    elif kind == "double":
        tensor = tensor_pb2.TensorProto(dtype=2, double_val=[value])
    else:
        tensor = tensor_pb2.TensorProto(dtype=1, tensor_content=struct.pack("<f", value))
    v = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if first:
        v.metadata.plugin_data.plugin_name = "scalars"
    return event_pb2.Event(step=step, wall_time=1_700_000_000.0 + step,
                           summary=summary_pb2.Summary(value=[v])).SerializeToString()  # fmt: skip


def write_sb3_style(folder: Path, steps: range, tags: tuple[str, ...] = ("train/loss", "time/fps")) -> Path:
    """Events written by tensorboardX's SummaryWriter, like Stable-Baselines3's logger; plus an image."""
    import numpy as np
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(folder))
    for s in steps:
        for i, tag in enumerate(tags):
            w.add_scalar(tag, float(s * (i + 1)), global_step=s, walltime=1_700_000_000 + s)
    w.add_image("policy/heatmap", np.zeros((3, 4, 4), dtype=np.uint8), global_step=steps[-1] + 1)
    w.close()
    return next(folder.glob("events.out.tfevents*"))


def test_simple_value_from_a_real_writer(tmp_path: Path) -> None:
    write_sb3_style(tmp_path / "runs" / "PPO_1", range(0, 500, 10))
    result = scrape(tmp_path / "runs")
    assert result.problems == [] and list(result.runs) == ["PPO_1"]
    assert result.to_json()["PPO_1"] == {"time/fps": 980.0, "train/loss": 490.0, "_latest_step": 490,
                                         "_latest_wall_time": 1_700_000_490.0}  # the image is skipped  # fmt: skip


def test_tf2_scalar_tensors(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "tf2"
    run.mkdir(parents=True)
    records = [tf2_event(0, "loss", 1.5, first=True), tf2_event(1, "loss", 1.25),
               tf2_event(0, "acc", 0.5, kind="double", first=True),
               tf2_event(2, "acc", 0.75, kind="double"), tf2_event(0, "lr", 0.5, kind="content", first=True),
               tf2_event(3, "lr", 0.25, kind="content")]  # fmt: skip
    (run / "events.out.tfevents.1.host.1.v2").write_bytes(b"".join(frame(r) for r in records))
    assert scrape(tmp_path / "runs").to_json()["tf2"] == {"acc": 0.75, "loss": 1.25, "lr": 0.25, "_latest_step": 3,
                                                         "_latest_wall_time": 1_700_000_003.0}  # fmt: skip


def test_truncated_tail_is_not_an_error(tmp_path: Path) -> None:
    f = write_sb3_style(tmp_path / "r", range(0, 100, 10))
    data = f.read_bytes()
    full = scan_file(f)
    f.write_bytes(data[:-7])  # the writer is mid-record
    cut = scan_file(f)
    assert cut.problems == [] and cut.offset < len(data) - 7 and cut.latest["train/loss"][0] == 90
    f.write_bytes(data[: full.offset - 200])
    assert scan_file(f).problems == []


def test_corrupt_records_are_reported_with_offset(tmp_path: Path) -> None:
    records = [frame(tf2_event(s, "loss", float(s), first=s == 0)) for s in range(5)]
    bad_data = bytearray(records[2])
    bad_data[20] ^= 0xFF  # inside the payload: the data CRC fails, the framing holds
    f = tmp_path / "events.out.tfevents.x"
    f.write_bytes(b"".join([*records[:2], bytes(bad_data), *records[3:]]))
    scan = scan_file(f)
    offset = len(records[0]) + len(records[1])
    assert [p.reason for p in scan.problems] == [f"corrupt record at offset {offset} (bad CRC); skipped"]
    assert scan.latest["loss"][0] == 4  # records after the bad one are still read
    bad_len = bytearray(records[2])
    bad_len[0] ^= 0x01  # the length is wrong: the framing is lost until the next sound record
    f.write_bytes(b"".join([*records[:2], bytes(bad_len), *records[3:]]))
    scan = scan_file(f)
    resumed = offset + len(records[2])
    assert [p.reason for p in scan.problems] == [
        f"corrupt record length at offset {offset}; skipped to offset {resumed}"
    ]
    assert scan.latest["loss"][0] == 4  # records 3 and 4 are recovered
    f.write_bytes(b"".join([*records[:2], bytes(bad_len)]))
    assert scan_file(f).problems[0].reason.endswith("skipped to the end of the file")


def test_parallel_read_equals_serial_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ztbkit.data import tb_events

    records = [frame(tf2_event(s, f"tag{s % 7}", s * 0.5, first=s < 7)) for s in range(4000)]
    for i, flip in ((1000, 20), (2500, 0), (3999, 25)):  # bad data CRC, bad length, bad last record
        broken = bytearray(records[i])
        broken[flip] ^= 0xFF
        records[i] = bytes(broken)
    f = tmp_path / "events.out.tfevents.big"
    f.write_bytes(b"".join(records) + records[0][:30])  # and a half-written tail
    serial = scan_file(f, workers=1)
    monkeypatch.setattr(tb_events, "PARALLEL_MIN_BYTES", 1024)
    calls: list[int] = []
    real = tb_events._scan_parallel

    def spy(*args: Any) -> Any:
        calls.append(args[3])
        return real(*args)

    monkeypatch.setattr(tb_events, "_scan_parallel", spy)
    for workers in (2, 3, 5):
        parallel = scan_file(f, workers=workers)
        assert parallel.latest == serial.latest and parallel.offset == serial.offset
        assert [str(p) for p in parallel.problems] == [str(p) for p in serial.problems]
    assert calls == [2, 3, 5]  # the parallel path really ran, with that many workers
    assert len(serial.problems) == 3 and serial.latest["tag0"][0] == 3997


def test_resumed_training_merges_by_step(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "resumed"
    run.mkdir(parents=True)
    first = [frame(tf2_event(s, "loss", float(s), first=s == 0)) for s in range(0, 50)]
    second = [frame(tf2_event(s, "loss", -float(s), first=s == 40)) for s in range(40, 120)]
    stale = [frame(tf2_event(10, "loss", 999.0, first=True))]  # an old step written later must not win
    (run / "events.out.tfevents.100.h.1.0").write_bytes(b"".join(first))
    (run / "events.out.tfevents.200.h.1.0").write_bytes(b"".join(second))
    (run / "events.out.tfevents.300.h.1.0").write_bytes(b"".join(stale))
    assert scrape(tmp_path / "runs").runs["resumed"]["loss"][:3:2] == (119, -119.0)


def test_scalars_summary_json_takes_precedence(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "hand"
    write_sb3_style(run, range(3))
    (run / "scalars_summary.json").write_text(json.dumps({"loss": 0.5, "bad": "x"}), encoding="utf-8")
    result = scrape(tmp_path / "runs")
    assert result.to_json()["hand"] == {"loss": 0.5, "_latest_step": None, "_latest_wall_time": None}
    assert "bad: not a finite number" in result.problems[0].reason


def test_incremental_cache(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "live"
    run.mkdir(parents=True)
    f = run / "events.out.tfevents.1.h.1.0"
    f.write_bytes(b"".join(frame(tf2_event(s, "loss", float(s), first=s == 0)) for s in range(100)))
    cache = tmp_path / "cache.json"
    first = scrape(tmp_path / "runs", cache=cache)
    assert (first.files_whole, first.runs["live"]["loss"][0]) == (1, 99)
    again = scrape(tmp_path / "runs", cache=cache)
    assert (again.files_unchanged, again.bytes_read, again.runs) == (1, 0, first.runs)
    with open(f, "ab") as fh:  # training goes on
        fh.write(b"".join(frame(tf2_event(s, "loss", float(s))) for s in range(100, 110)))
    grown = scrape(tmp_path / "runs", cache=cache)
    assert (
        grown.files_incremental == 1
        and grown.bytes_read < 1000
        and grown.runs["live"]["loss"][:3:2] == (109, 109.0)
    )
    f.write_bytes(
        b"".join(frame(tf2_event(s, "loss", 5.0, first=s == 0)) for s in range(20))
    )  # restarted: shrank
    shrunk = scrape(tmp_path / "runs", cache=cache)
    assert shrunk.files_whole == 1 and shrunk.runs["live"]["loss"][:3:2] == (19, 5.0)
    data = bytearray(f.read_bytes())
    f.write_bytes(
        b"".join(frame(tf2_event(s, "loss", 7.0, first=s == 0)) for s in range(40))
    )  # rewritten, longer
    rewritten = scrape(tmp_path / "runs", cache=cache)
    assert rewritten.files_whole == 1 and rewritten.runs["live"]["loss"][:3:2] == (39, 7.0) and data


@pytest.mark.parametrize("how", ["touch-r", "renamed-over"])
def test_incremental_cache_sees_a_same_size_rewrite_with_its_mtime_put_back(tmp_path: Path, how: str) -> None:
    """Same size and mtime to the nanosecond as the cached file, other values: rewritten in place and
    ``touch -r``'d, or another file with that mtime renamed over it (``mv``, ``rsync -a``). Read again."""
    run = tmp_path / "runs" / "live"
    run.mkdir(parents=True)
    f = run / "events.out.tfevents.1.h.1.0"
    f.write_bytes(b"".join(frame(tf2_event(s, "loss", 1.0, first=s == 0)) for s in range(50)))
    cache = tmp_path / "cache.json"
    assert scrape(tmp_path / "runs", cache=cache).runs["live"]["loss"][:3:2] == (49, 1.0)
    st = f.stat()
    time.sleep(0.02)  # ctime has a coarse clock (a few ms): the rewrite must fall in a later tick
    new = b"".join(frame(tf2_event(s, "loss", 2.0, first=s == 0)) for s in range(50))
    assert len(new) == st.st_size
    if how == "touch-r":
        with open(f, "r+b") as fh:
            fh.write(new)
    else:
        other = tmp_path / "other"
        other.write_bytes(new)
        os.replace(other, f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (f.stat().st_size, f.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    again = scrape(tmp_path / "runs", cache=cache)
    assert again.files_whole == 1 and again.runs["live"]["loss"][:3:2] == (49, 2.0)


def test_real_fixture_logs_match_event_accumulator(bot_fixtures: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = scrape(bot_fixtures)
    assert result.problems == [] and len(result.runs) == 79  # 80 files; "evaluation" has 2, no scalars
    compared = 0
    for run, latest in result.runs.items():
        ea = EventAccumulator(str(bot_fixtures / run), size_guidance={"scalars": 0})
        ea.Reload()
        assert set(ea.Tags()["scalars"]) == set(latest), run
        for tag in ea.Tags()["scalars"]:
            last = ea.Scalars(tag)[-1]
            assert (latest[tag][0], latest[tag][2]) == (last.step, last.value), (run, tag)
            compared += 1
    assert compared > 1000


def test_dataframe_with_tag_filter(tmp_path: Path, bot_fixtures: Path) -> None:
    df = scalars_frame(bot_fixtures / "tensorboard" / "PPO_4", tags=["time/fps"])
    assert list(df.columns) == ["run", "tag", "step", "wall_time", "value"]
    assert set(df["tag"]) == {"time/fps"} and len(df) == 49 and df["step"].max() == 100352


def test_tb_scrape_cli(tmp_path: Path, bot_fixtures: Path) -> None:
    r = CliRunner().invoke(
        cli, ["tb-scrape", "--run-dir", str(bot_fixtures / "runs"), "--no-cache", "--tag", "time/fps"]
    )
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert sorted(doc) == ["vf_coef_test_vf_coef_02500/PPO_1", "vf_coef_test_vf_coef_05000/PPO_1",
                           "vf_coef_test_vf_coef_07500/PPO_1"]  # fmt: skip
    assert set(doc["vf_coef_test_vf_coef_02500/PPO_1"]) == {"time/fps", "_latest_step", "_latest_wall_time"}
    r = CliRunner().invoke(cli, ["tb-scrape", "--run-dir", str(tmp_path / "none")])
    assert r.exit_code == 2 and "--run-dir" in r.stderr
    out = tmp_path / "o.json"
    r = CliRunner().invoke(cli, ["tb-scrape", "--run-dir", str(bot_fixtures / "runs"), "--output", str(out),
                                 "--cache", str(tmp_path / "c.json")])  # fmt: skip
    assert (
        r.exit_code == 0
        and "3 run(s); read 3 file(s) whole" in r.stdout
        and json.loads(out.read_text(encoding="utf-8"))
    )


def test_demo_tensorboard_files_scrape(tmp_path: Path) -> None:
    from ztbkit.data.demo import build_demo

    build_demo(tmp_path, sessions=6)
    result = scrape(tmp_path / "artifacts")
    assert len(result.runs) == 4 and result.problems == []
    assert all(
        set(tags) == {"rollout/ep_rew_mean", "train/loss", "time/fps"} for tags in result.runs.values()
    )


@pytest.mark.parametrize(
    "files",
    [[], "x", {"a": "str"}, {"RUN": 5}, {"RUN": {"size": "1"}},
     {"RUN": {"size": 10**9, "mtime_ns": 0, "offset": 10**9, "head_len": 0, "head_crc": 0, "latest": [],
              "plugins": {}}},
     {"RUN": {"size": 10, "mtime_ns": 0, "offset": 5, "head_len": 5, "head_crc": 0, "latest": {"t": "x"},
              "plugins": {}}},
     {"RUN": {"size": 10, "mtime_ns": 0, "offset": 5, "head_len": 5, "head_crc": 0, "latest": {"t": [1e999, 0, 0]},
              "plugins": {}}}],
)  # fmt: skip
def test_cache_entries_of_the_wrong_type_are_ignored(tmp_path: Path, files: Any) -> None:
    from conftest import BOT_FIXTURES

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    src = sorted((BOT_FIXTURES / "tensorboard" / "evaluation").glob("events.out.tfevents.*"))[0]
    (run / src.name).write_bytes(src.read_bytes())
    fresh = scrape(tmp_path / "runs").to_json()
    cache = tmp_path / "cache.json"
    key = f"r/{src.name}"
    body = {k.replace("RUN", key): v for k, v in files.items()} if isinstance(files, dict) else files
    cache.write_text(json.dumps({"version": 1, "tags": None, "files": body}), encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["tb-scrape", "--run-dir", str(tmp_path / "runs"), "--cache", str(cache)]
    )
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert json.loads(result.stdout) == fresh


def test_tf2_tensors_that_are_not_scalars_are_left_out(tmp_path: Path) -> None:
    """A histogram-like vector under the scalars plugin is not a scalar: the tag is left out, quietly
    (like images), and the real scalars around it are kept."""
    from tensorboardX.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2

    def tensor_event(step: int, tag: str, values: list[float], dims: list[int]) -> bytes:
        shape = tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
        )
        tensor = tensor_pb2.TensorProto(dtype=1, float_val=values, tensor_shape=shape)
        v = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        v.metadata.plugin_data.plugin_name = "scalars"
        return event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[v])).SerializeToString()

    run = tmp_path / "runs" / "tf2"
    run.mkdir(parents=True)
    records = [tensor_event(1, "vec", [1.0, 2.0], [2]), tensor_event(1, "matrix", [1.0] * 4, [2, 2]),
               tensor_event(2, "one", [0.5], [1, 1]), tensor_event(3, "loss", [0.25], []),
               tf2_event(4, "loss", 0.125)]  # fmt: skip
    (run / "events.out.tfevents.1.host.1.v2").write_bytes(b"".join(frame(r) for r in records))
    result = scrape(tmp_path / "runs")
    assert result.problems == []
    assert result.to_json()["tf2"] == {
        "loss": 0.125,
        "one": 0.5,
        "_latest_step": 4,
        "_latest_wall_time": 1_700_000_004.0,
    }


def test_a_file_vanishing_during_a_scan_is_a_one_line_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rotation or cleanup deletes an event file between listing and reading: reported, others still read."""
    from ztbkit.data import tensorboard

    write_sb3_style(tmp_path / "runs" / "a", range(0, 30, 10))
    gone = write_sb3_style(tmp_path / "runs" / "b", range(0, 30, 10))
    real_find_runs = tensorboard.find_runs

    def find_then_delete(run_dir: Any, *problems: Any) -> Any:
        runs = real_find_runs(run_dir, *problems)
        gone.unlink()  # after the walk listed it, before it is read
        return runs

    monkeypatch.setattr(tensorboard, "find_runs", find_then_delete)
    result = scrape(tmp_path / "runs")
    assert [str(p) for p in result.problems] == [f"{gone}: cannot read: No such file or directory"]
    assert result.to_json()["a"]["_latest_step"] == 20 and result.runs["b"] == {}


def test_split_reads_equal_the_serial_read_at_every_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parallel path's ranges, run in this process (a pool that calls in place), for 2..9 workers:
    every split lands somewhere else inside a record, and each must resynchronise to the same result."""
    import itertools
    import multiprocessing

    from ztbkit.data import tb_events

    class InPlacePool:
        def __init__(self, jobs: int) -> None:
            self.jobs = jobs

        def __enter__(self) -> InPlacePool:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def starmap(self, fn: Any, args: Any) -> list[Any]:
            return list(itertools.starmap(fn, args))

    class Context:
        Pool = InPlacePool

    monkeypatch.setattr(multiprocessing, "get_context", lambda method: Context)
    monkeypatch.setattr(tb_events, "PARALLEL_MIN_BYTES", 256)
    # t1 never names its plugin in the file: what the cache says about it must reach every range.
    records = [frame(tf2_event(s, f"t{s % 3}", s / 4, first=s in (0, 2))) for s in range(60)]
    broken = bytearray(records[30])
    broken[25] ^= 0xFF  # one bad data CRC in the middle
    records[30] = bytes(broken)
    f = tmp_path / "events.out.tfevents.small"
    f.write_bytes(b"".join(records) + records[1][:9])  # and a half-written tail
    serial = scan_file(f, workers=1)
    assert serial.latest["t2"][0] == 59 and len(serial.problems) == 1
    for workers in range(2, 10):
        split = scan_file(f, workers=workers)
        assert (split.latest, split.offset, split.plugins) == (
            serial.latest,
            serial.offset,
            serial.plugins,
        ), workers
        assert [str(p) for p in split.problems] == [str(p) for p in serial.problems], workers
        assert split.bytes_read == split.offset  # the ranges meet: every byte up to the offset, once
    # Plugins already known (from the cache) and a tag filter reach every range.
    kwargs: dict[str, Any] = {"plugins": {"t1": "histograms"}, "tags": ["t1", "t2"]}
    serial = scan_file(f, workers=1, **kwargs)
    assert set(serial.latest) == {"t2"}
    for workers in (2, 5):
        assert scan_file(f, workers=workers, **kwargs).latest == serial.latest


def test_undecodable_and_empty_events_are_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    from tensorboardX.proto import event_pb2

    version = event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()
    records = [frame(version), frame(tf2_event(1, "loss", 0.5, first=True)), frame(b"\xff\xff\xff\xff"),
               frame(tf2_event(2, "loss", 0.25))]  # fmt: skip
    f = tmp_path / "events.out.tfevents.1"
    f.write_bytes(b"".join(records))
    scan = scan_file(f)
    bad_at = len(records[0]) + len(records[1])
    assert scan.problems == [Problem(str(f), f"undecodable record at offset {bad_at}; skipped")]
    assert scan.latest["loss"][0] == 2 and scan.offset == f.stat().st_size


def test_problems_name_the_file_and_a_lost_tail_ends_the_scan(tmp_path: Path) -> None:
    records = [frame(tf2_event(s, "loss", float(s), first=s == 0)) for s in range(3)]
    bad = bytearray(records[1])
    bad[20] ^= 0xFF
    f = tmp_path / "events.out.tfevents.2"
    f.write_bytes(records[0] + bytes(bad) + records[2])
    assert scan_file(f).problems == [
        Problem(str(f), f"corrupt record at offset {len(records[0])} (bad CRC); skipped")
    ]
    bad_len = bytearray(records[2])
    bad_len[0] ^= 0x01
    f.write_bytes(records[0] + records[1] + bytes(bad_len))
    scan = scan_file(f)
    at = len(records[0]) + len(records[1])
    assert scan.problems == [
        Problem(str(f), f"corrupt record length at offset {at}; skipped to the end of the file")
    ]
    assert scan.offset == f.stat().st_size and scan.latest["loss"][0] == 1


def test_a_nan_or_infinite_scalar_is_scraped_and_cached_not_a_crash(tmp_path: Path) -> None:
    """A diverged run logs loss = NaN (SB3 writes what it gets): the scrape wrote it into the cache as
    bare NaN, which strict JSON refuses, and tb-scrape died with a traceback. The latest value is
    shown as null, and the cache holds it, so the next run reads nothing again."""
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(tmp_path / "run"))
    w.add_scalar("train/loss", 0.5, global_step=1, walltime=1_700_000_001)
    w.add_scalar("train/loss", float("nan"), global_step=2, walltime=1_700_000_002)
    w.add_scalar("train/grad", float("-inf"), global_step=2, walltime=1_700_000_002)
    w.add_scalar("time/fps", 250.0, global_step=2, walltime=1_700_000_002)
    w.add_scalar("time/fps", 1.0, global_step=3, walltime=float("nan"))  # a hostile record: skipped, said
    w.close()
    out = tmp_path / "o.json"
    for seen in (
        "read 1 file(s) whole, 0 incrementally, 0 unchanged",
        "read 0 file(s) whole, 0 incrementally, 1 unchanged",
    ):
        r = CliRunner().invoke(cli, ["tb-scrape", "--run-dir", str(tmp_path / "run"), "--output", str(out)])
        assert r.exit_code == 0 and seen in r.stdout, r.output
        assert ("wall_time nan at offset" in r.stderr) == seen.startswith("read 1"), r.stderr
        doc = json.loads(out.read_text(encoding="utf-8"))
        assert doc == {".": {"time/fps": 250.0, "train/grad": None, "train/loss": None, "_latest_step": 2,
                             "_latest_wall_time": 1_700_000_002.0}}  # fmt: skip


def test_within_one_file_the_newest_step_wins_then_the_newest_wall_time_then_the_later_record(
    tmp_path: Path,
) -> None:
    """The merge rule inside one file, record by record: a larger step wins; for the same step, a wall
    time at least as late wins (so of two identical ones, the later record). A record whose wall time
    is not finite is said with its offset and skipped, and reading goes on; so it does past a value
    that is not a scalar or a tag not asked for, within one event."""
    from tensorboardX.proto import event_pb2, summary_pb2

    def event(step: int, wall: float, *values: summary_pb2.Summary.Value) -> bytes:
        return event_pb2.Event(
            step=step, wall_time=wall, summary=summary_pb2.Summary(value=values)
        ).SerializeToString()

    def scalar(tag: str, v: float) -> summary_pb2.Summary.Value:
        return summary_pb2.Summary.Value(tag=tag, simple_value=v)

    image = summary_pb2.Summary.Value(tag="img", image=summary_pb2.Summary.Image(height=1, width=1))
    records = [
        frame(event(200, 10.0, scalar("b", 1.0), scalar("c", 1.0), scalar("d", 1.0))),
        frame(event(100, 20.0, scalar("d", 2.0))),  # an older step written later, with a later clock
        frame(event(200, 5.0, scalar("b", 3.0))),  # the same step, an earlier clock
        frame(event(200, 10.0, scalar("c", 4.0))),  # the same step and clock, later in the file: wins
        frame(event(300, float("nan"), scalar("a", 9.0))),
        frame(event(250, 30.0, scalar("x", 5.0), image, scalar("a", 6.0))),
    ]
    f = tmp_path / "events.out.tfevents.1"
    f.write_bytes(b"".join(records))
    nan_at = sum(len(r) for r in records[:4])
    expected = {"a": (250, 30.0, 6.0), "b": (200, 10.0, 1.0), "c": (200, 10.0, 4.0), "d": (200, 10.0, 1.0)}
    for tags, more in ((None, {"x": (250, 30.0, 5.0)}), ({"a", "b", "c", "d"}, {})):
        scan = scan_file(f, tags=tags)
        assert scan.latest == {**expected, **more}, tags
        assert scan.problems == [Problem(str(f), f"wall_time nan at offset {nan_at} is not finite; skipped")]


def test_framing_problems_at_the_very_end_of_the_file(tmp_path: Path) -> None:
    """The last record is where a file ends exactly, so the boundaries there are the real ones: a
    record found again after a corrupt length may be the last one; a last record whose data CRC is
    wrong is corrupt (its bytes are all there), not "still being written"; a 12-byte tail that is not
    a valid header is a corrupt length, while a shorter one is just a write in progress."""
    records = [frame(tf2_event(s, "loss", float(s), first=s == 0)) for s in range(3)]
    f = tmp_path / "events.out.tfevents.3"
    bad_len = bytearray(records[1])
    bad_len[0] ^= 0x01
    f.write_bytes(records[0] + bytes(bad_len) + records[2])
    scan = scan_file(f)
    at, last = len(records[0]), len(records[0]) + len(records[1])
    assert scan.problems == [
        Problem(str(f), f"corrupt record length at offset {at}; skipped to offset {last}")
    ]
    assert scan.latest["loss"][0] == 2 and scan.offset == f.stat().st_size
    bad_data = bytearray(records[2])
    bad_data[-6] ^= 0xFF  # inside the payload; the record is whole
    f.write_bytes(records[0] + records[1] + bytes(bad_data))
    scan = scan_file(f)
    assert scan.problems == [Problem(str(f), f"corrupt record at offset {last} (bad CRC); skipped")]
    assert scan.latest["loss"][0] == 1 and scan.offset == f.stat().st_size
    whole = records[0] + records[1]
    for tail, problems in ((b"\xab" * 12, [Problem(str(f), f"corrupt record length at offset {len(whole)}; "
                                                             "skipped to the end of the file")]),
                           (b"\xab" * 11, [])):  # fmt: skip
        f.write_bytes(whole + tail)
        scan = scan_file(f)
        assert scan.problems == problems and scan.latest["loss"][0] == 1, len(tail)
