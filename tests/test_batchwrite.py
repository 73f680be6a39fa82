"""Many atomic writes with shared flushes (the first night's cost files): each file old or new, never half."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ztbkit.core.batchwrite import GROUP, atomic_write_many

WRITER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from ztbkit.core.batchwrite import atomic_write_many
    root, n = Path(sys.argv[1]), int(sys.argv[2])
    generation = 0
    print("ready", flush=True)
    while True:
        generation += 1
        body = json.dumps({"generation": generation, "pad": "x" * 3000}).encode()
        atomic_write_many([(root / f"s{i}" / "reports" / "cost_estimate.json", body) for i in range(n)])
    """
)


@pytest.mark.parametrize("round_", range(4))
def test_kill_9_mid_batch_leaves_every_file_whole(tmp_path: Path, round_: int) -> None:
    n = GROUP + 44  # two groups: the kill can land in either, or between them
    old = json.dumps({"generation": 0}).encode()
    for i in range(n):
        (tmp_path / f"s{i}" / "reports").mkdir(parents=True)
        (tmp_path / f"s{i}" / "reports" / "cost_estimate.json").write_bytes(old)
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(n)], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    time.sleep(random.uniform(0.05, 1.5))
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    generations = set()
    for i in range(n):
        doc = json.loads((tmp_path / f"s{i}" / "reports" / "cost_estimate.json").read_bytes())
        generations.add(doc["generation"])
    assert generations <= {0, *range(1, 10_000)}
    assert len(generations) <= 2  # the files of at most two generations: the kill stopped one batch
    names = {p.name for p in (tmp_path / "s0" / "reports").iterdir()}
    assert "cost_estimate.json" in names


def test_a_file_that_cannot_be_written_is_named_and_the_others_are_written(tmp_path: Path) -> None:
    (tmp_path / "b" / "x.json").mkdir(parents=True)  # a folder where the file should go
    (tmp_path / "c").write_text("a file in the way of a folder", encoding="utf-8")
    items: list[tuple[str | os.PathLike[str], bytes]] = [
        (tmp_path / "a" / "x.json", b"1"),
        (tmp_path / "b" / "x.json", b"2"),
        (tmp_path / "c" / "x.json", b"3"),
        (tmp_path / "d" / "x.json", b"4"),
    ]
    errors = atomic_write_many(items)
    assert sorted(errors) == [1, 2]
    assert str(tmp_path / "b" / "x.json") in str(errors[1]) and "cannot write" in str(errors[1])
    assert (tmp_path / "a" / "x.json").read_bytes() == b"1" and (
        tmp_path / "d" / "x.json"
    ).read_bytes() == b"4"
    assert not [p for p in tmp_path.rglob("*.tmp")]


@pytest.mark.skipif(os.name != "posix", reason="a folder linked elsewhere: POSIX symlinks")
def test_a_folder_swapped_for_a_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "reports").symlink_to(outside)
    errors = atomic_write_many([(tmp_path / "tree" / "reports" / "x.json", b"1")])
    assert list(errors) == [0] and not (outside / "x.json").exists()


def test_new_files_get_the_usual_mode(tmp_path: Path) -> None:
    atomic_write_many([(tmp_path / "x.json", b"{}")])
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~mask
