from __future__ import annotations

import hashlib
import struct
from collections import Counter
from pathlib import Path

import pytest

from ztbkit import UsageError, load_artifacts
from ztbkit.data.demo import MARKER, build_demo
from ztbkit.data.session import classify_run_metadata


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def read_tb_scalars(path: Path) -> list[tuple[int, str, float]]:
    """Decode an event file with tensorboardX's protobuf messages, checking the record framing."""
    from tensorboardX.proto import event_pb2
    from tensorboardX.record_writer import masked_crc32c

    data, pos, out = path.read_bytes(), 0, []
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        assert struct.unpack_from("<I", data, pos + 8)[0] == masked_crc32c(data[pos : pos + 8])
        body = data[pos + 12 : pos + 12 + length]
        assert struct.unpack_from("<I", data, pos + 12 + length)[0] == masked_crc32c(body)
        event = event_pb2.Event.FromString(body)
        out += [(event.step, v.tag, v.simple_value) for v in event.summary.value]
        pos += 16 + length
    return out


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    build_demo(root)
    return root


def test_same_seed_same_bytes_other_seed_differs(demo_root: Path, tmp_path: Path) -> None:
    build_demo(tmp_path / "again")
    assert digest(tmp_path / "again") == digest(demo_root)
    build_demo(tmp_path / "other", seed=8)
    assert digest(tmp_path / "other") != digest(demo_root)


def test_demo_is_realistic(demo_root: Path) -> None:
    tree = load_artifacts(demo_root / "artifacts")
    on_disk = [s for s in tree.sessions if s.on_disk]
    assert len(on_disk) == 36
    assert Counter(s.status for s in on_disk).keys() >= {"running", "stopped", "failed"}
    assert {s.gate_verdict for s in on_disk} == {"pass", "fail", "none"}
    assert any(s.gates and s.gates.critical_failure for s in on_disk)
    assert {classify_run_metadata(s.run_metadata) for s in on_disk} >= {"cost", "environment", "stub"}
    assert all(s.duration_seconds for s in on_disk if s.run_metadata_shape == "cost")
    summary_shapes = Counter(
        ("summary" in s.summary, "global_step" in s.summary) for s in on_disk if s.summary
    )
    assert len(summary_shapes) >= 3  # nested, nested + top-level copy, flat
    days = {s.start_time.date() for s in on_disk if s.start_time}
    assert (max(days) - min(days)).days >= 21  # several weeks
    assert sum(s.cost_estimate is not None for s in on_disk) >= 1
    # The two deliberate faults are reported, nothing else.
    reasons = sorted(p.reason.split(":")[0] for p in tree.all_issues())
    assert reasons == [
        "listed in index.json but the folder is missing",
        "truncated JSON (the file ends early)",
    ]


def test_demo_logs_tensorboard_and_live_state(demo_root: Path) -> None:
    logs = "".join(p.read_text(encoding="utf-8") for p in (demo_root / "artifacts").glob("*/logs/train.log"))
    assert "ERROR" in logs and "CRITICAL" in logs and "Step " in logs
    tb_files = sorted((demo_root / "artifacts").glob("*/tb/events.out.tfevents.*"))
    assert len(tb_files) == 4
    scalars = read_tb_scalars(tb_files[0])
    assert {tag for _, tag, _ in scalars} == {"rollout/ep_rew_mean", "train/loss", "time/fps"}
    assert len(scalars) >= 3
    assert {p.name for p in (demo_root / "state").iterdir()} == {
        "trade-state.json", "trade-config.json", "stats.json", MARKER}  # fmt: skip


def test_demo_refuses_foreign_folder_and_replaces_its_own(tmp_path: Path) -> None:
    real = tmp_path / "mine" / "artifacts" / "20250101T000000Z"
    real.mkdir(parents=True)
    with pytest.raises(UsageError, match=r"--out-dir: .* was not made by `ztb demo`"):
        build_demo(tmp_path / "mine")
    assert real.is_dir()
    build_demo(tmp_path / "d", sessions=10)
    build_demo(tmp_path / "d", sessions=3)
    assert len([p for p in (tmp_path / "d" / "artifacts").iterdir() if p.is_dir()]) == 3
    assert not list((tmp_path / "d").glob(".artifacts*"))


def test_demo_rejects_zero_sessions(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--sessions"):
        build_demo(tmp_path, sessions=0)
