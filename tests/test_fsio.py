from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from ztbkit import fsio


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.md"
    fsio.atomic_write_text(target, "old\n")
    fsio.atomic_write_text(target, "new ¥1,556\n")
    assert target.read_text(encoding="utf-8") == "new ¥1,556\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md"]


def test_atomic_write_uses_umask_mode_not_private_temp_mode(tmp_path: Path) -> None:
    target = fsio.atomic_write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_failed_write_keeps_old_file_and_cleans_temp(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    fsio.atomic_write_json(target, {"ok": 1})
    with pytest.raises(ValueError):
        fsio.atomic_write_json(target, {"bad": float("nan")})  # NaN is not JSON
    assert json.loads(target.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_readers_never_see_a_half_written_file(tmp_path: Path) -> None:
    target = tmp_path / "trends.csv"
    big_a, big_b = "a" * 200_000, "b" * 200_000
    fsio.atomic_write_text(target, big_a)
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(target.read_text()[:1] + str(len(target.read_text())))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(30):
        fsio.atomic_write_text(target, big_a if i % 2 else big_b, durable=False)
    stop.set()
    t.join()
    assert seen <= {"a200000", "b200000"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"global_step": 10, "rl', "truncated JSON"),
        (b'{"a": 1} trailing', "invalid JSON"),
        (b"", "file is empty"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_read_json_reports_bad_content(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "summary.json"
    p.write_bytes(content)
    result = fsio.read_json(p)
    assert not result.ok and result.problem is not None
    assert reason in result.problem.reason
    assert result.problem.path == str(p)


def test_read_json_accepts_bom_and_nan_literals(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_bytes(b'\xef\xbb\xbf{"v": NaN, "s": "\xe6\x97\xa5\xe6\x9c\xac"}')
    result = fsio.read_json(p)
    assert result.ok and result.value["s"] == "日本"
    assert result.value["v"] != result.value["v"]  # NaN is parsed; callers validate


def test_read_json_missing_folder_and_fifo_do_not_hang(tmp_path: Path) -> None:
    assert fsio.read_json_if_exists(tmp_path / "absent.json") is None
    assert "not found" in str(fsio.read_json(tmp_path / "absent.json").problem)
    (tmp_path / "dir.json").mkdir()
    assert "folder" in str(fsio.read_json(tmp_path / "dir.json").problem)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # open() on a FIFO with no writer would block forever
    assert "not a regular file" in str(fsio.read_json(fifo).problem)


def test_read_json_size_limit(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"pad": "x" * 5000}))
    assert "over the" in str(fsio.read_json(p, max_bytes=1024).problem)
    assert fsio.read_json(p).ok


def test_short_reads_are_read_to_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Network shares may return fewer bytes than asked before the end; the reader must go on."""
    p = tmp_path / "summary.json"
    p.write_text(json.dumps({"global_step": 12345, "pad": "x" * 3000}))
    real_read = os.read
    monkeypatch.setattr(fsio.os, "read", lambda fd, n: real_read(fd, min(n, 700)))
    result = fsio.read_json(p)
    assert result.ok and result.value["global_step"] == 12345


def test_output_path_problems_are_one_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x", encoding="utf-8")
    os.mkfifo(tmp_path / "fifo")
    cases = {
        tmp_path / "folder": "it is a folder",
        tmp_path / "file" / "x.csv": "a file is in the way of the folder",
        tmp_path / "file" / "deeper" / "x.csv": "a file is in the way of the folder",
        tmp_path / "fifo": "it is not a regular file",  # refused, never opened (would block)
        Path("/sys/ztb-test/x.csv"): "cannot write",
    }
    for path, reason in cases.items():
        with pytest.raises(fsio.OutputPathError) as info:
            fsio.atomic_write_text(path, "data\n")
        assert str(info.value).startswith(f"{path}: cannot write") and reason in str(info.value)
        assert "\n" not in str(info.value)
    assert (
        stat.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)
        and (tmp_path / "file").read_text(encoding="utf-8") == "x"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "file", "folder"]  # no temp file left


def test_stale_temp_files_are_removed_by_the_next_write(tmp_path: Path) -> None:
    import time

    now = time.time()
    stale = tmp_path / ".report.md.ab12_x9z.tmp"
    fresh = tmp_path / ".trends.csv.k2j3h4g5.tmp"  # a write in progress right now: kept
    not_ours = tmp_path / ".notes.tmp"  # no random part: not a temp file of ours
    other_shape = tmp_path / "report.md.ab12cd34.tmp"  # not hidden: not ours
    for p in (stale, fresh, not_ours, other_shape):
        p.write_bytes(b"half")
        os.utime(p, (now - 7200, now - 7200))
    os.utime(fresh, (now - 60, now - 60))
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / ".x.json.abcdefgh.tmp").write_bytes(b"")
    os.utime(sub / ".x.json.abcdefgh.tmp", (now - 7200, now - 7200))
    fsio.atomic_write_text(tmp_path / "out.txt", "ok\n")
    assert not stale.exists() and fresh.exists() and not_ours.exists() and other_shape.exists()
    assert (sub / ".x.json.abcdefgh.tmp").exists()  # another folder: left to its own next write


def test_a_killed_write_leaves_a_temp_that_the_next_write_removes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import sys, ztbkit.fsio as f\n"
        "def stuck(fd):\n"
        "    print('writing', flush=True)\n"
        "    import time; time.sleep(60)\n"
        "f.os.fsync = stuck\n"
        "f.atomic_write_text(sys.argv[1], 'x' * 100)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "r.md")], stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline() == b"writing\n"
    p.send_signal(signal.SIGKILL)
    p.wait()
    temps = [q for q in tmp_path.iterdir() if q.name.endswith(".tmp")]
    assert len(temps) == 1 and not (tmp_path / "r.md").exists()
    old = time.time() - 3601 - 5
    os.utime(temps[0], (old, old))
    fsio.atomic_write_text(tmp_path / "other.md", "y")
    assert sorted(q.name for q in tmp_path.iterdir()) == ["other.md"]


def test_open_regular_refuses_fifo_and_folder_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for path, reason in ((tmp_path / "fifo", "not a regular file"), (tmp_path, "a folder")):
        with pytest.raises(fsio.InputFileError, match=reason):
            fsio.open_regular(path)
    (tmp_path / "f").write_bytes(b"abc")
    with fsio.open_regular(tmp_path / "f") as fh:
        assert fh.read() == b"abc"


def test_huge_integers_are_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text('{"global_step": ' + "9" * 5001 + "}", encoding="utf-8")
    read = fsio.read_json(tmp_path / "s.json")
    assert (
        read.problem is not None and "invalid JSON" in read.problem.reason and "4300" in read.problem.reason
    )
