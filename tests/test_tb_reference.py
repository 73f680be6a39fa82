"""The scraper against TensorBoard's own writer and reader on the shapes that once broke it: a TF1
FileWriter-style file (a tag's plugin named on its first event only) read in parallel, and TF2
integer tensors under the scalars plugin. EventAccumulator is the reference."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from ztbkit.data import tb_events
from ztbkit.data.tb_events import scan_file


def tensor_value(tag: str, dtype: int, *, plugin: str | None = None, **fields: Any) -> Any:
    """A Summary.Value holding a rank-0 tensor, built from TensorBoard's own protos."""
    from tensorboard.compat.proto import summary_pb2, tensor_pb2

    v = summary_pb2.Summary.Value(tag=tag, tensor=tensor_pb2.TensorProto(dtype=dtype, **fields))
    if plugin is not None:
        v.metadata.plugin_data.plugin_name = plugin
    return v


def write_events(folder: Path, events: list[tuple[int, list[Any]]]) -> Path:
    """Write (step, values) events with TensorBoard's EventFileWriter (its framing and CRCs)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(folder))
    for step, values in events:
        writer.add_event(
            event_pb2.Event(
                step=step, wall_time=1_700_000_000.0 + step, summary=summary_pb2.Summary(value=values)
            )
        )
    writer.close()
    return next(folder.glob("events.out.tfevents*"))


def reference(folder: Path) -> dict[str, tuple[int, float, float]]:
    """EventAccumulator's scalars: simple values, and tensors whose tag's plugin (from its first
    event) is "scalars", each tag's last point as (step, wall time, value)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    out = {tag: (e.step, e.wall_time, e.value) for tag in ea.Tags()["scalars"] for e in ea.Scalars(tag)[-1:]}
    for tag in ea.Tags()["tensors"]:
        if ea.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
            e = ea.Tensors(tag)[-1]
            out[tag] = (e.step, e.wall_time, float(tensor_util.make_ndarray(e.tensor_proto).item()))
    return out


def test_tf1_metadata_once_parallel_equals_serial_equals_event_accumulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TF1's FileWriter names a tag's plugin on its first event only. A worker that starts mid-file
    never sees that record: it used to take the custom plugin's one-element float tensors for scalars,
    so the parallel read reported a tag the serial read (and TensorBoard) leave out."""
    events: list[tuple[int, list[Any]]] = [
        (0, [tensor_value("gauge/temp", 1, plugin="custom_gauge", float_val=[70.0]),
             tensor_value("loss", 1, plugin="scalars", float_val=[1.0]),
             tensor_value("rare/gauge", 1, plugin="custom_gauge", float_val=[1.0])]),
    ]  # fmt: skip
    for s in range(1, 3000):
        values = [
            tensor_value("gauge/temp", 1, float_val=[70.0 + s % 9]),
            tensor_value("loss", 1, float_val=[1 / s]),
        ]
        if s == 1500:  # a scalar tag that starts mid-file, named on its first event
            values.append(tensor_value("late/reward", 1, plugin="scalars", float_val=[float(s)]))
        elif s > 1500 and s % 7 == 0:
            values.append(tensor_value("late/reward", 1, float_val=[float(s)]))
        if s % 500 == 0:  # far apart: most workers see it without ever seeing its plugin named
            values.append(tensor_value("rare/gauge", 1, float_val=[float(s)]))
        events.append((s, values))
    f = write_events(tmp_path / "run", events)
    monkeypatch.setattr(tb_events, "PARALLEL_MIN_BYTES", 4096)
    expected = reference(tmp_path / "run")
    assert set(expected) == {"loss", "late/reward"}  # the gauges are not scalars to TensorBoard
    serial = scan_file(f, workers=1)
    assert serial.latest == expected
    calls: list[int] = []
    real = tb_events._scan_parallel

    def spy(*args: Any) -> Any:
        calls.append(args[3])
        return real(*args)

    monkeypatch.setattr(tb_events, "_scan_parallel", spy)
    for workers in (2, 3, 5, 8):
        parallel = scan_file(f, workers=workers)
        assert (parallel.latest, parallel.plugins, parallel.offset) == (
            serial.latest,
            serial.plugins,
            serial.offset,
        ), workers
        assert parallel.problems == [] and parallel.bytes_read == f.stat().st_size
    assert calls == [2, 3, 5, 8]  # the real forked pool ran each time


def test_tf2_integer_tensors_under_the_scalars_plugin(tmp_path: Path) -> None:
    """tf.summary.write with an int32/int64 step counter and the scalars plugin: TensorBoard and
    tbparse read them as scalars; they were dropped without a word."""
    events = [
        (0, [tensor_value("episodes", 3, plugin="scalars", int_val=[5]),
             tensor_value("frames", 9, plugin="scalars", int64_val=[2**40]),
             tensor_value("packed32", 3, plugin="scalars", tensor_content=struct.pack("<i", -7)),
             tensor_value("packed64", 9, plugin="scalars", tensor_content=struct.pack("<q", 2**33 + 1)),
             tensor_value("flag", 10, plugin="scalars", bool_val=[True])]),
        (1, [tensor_value("episodes", 3, int_val=[6]), tensor_value("frames", 9, int64_val=[2**40 + 3]),
             tensor_value("packed32", 3, tensor_content=struct.pack("<i", 12))]),
    ]  # fmt: skip
    f = write_events(tmp_path / "run", events)
    expected = reference(tmp_path / "run")
    expected.pop("flag", None)  # a bool is not a number here; left out, as before
    scan = scan_file(f)
    assert scan.problems == [] and scan.latest == expected
    assert {tag: point[2] for tag, point in scan.latest.items()} == {
        "episodes": 6.0, "frames": float(2**40 + 3), "packed32": 12.0, "packed64": float(2**33 + 1),
    }  # fmt: skip
