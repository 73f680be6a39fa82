from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from ztbkit.core import fsio, jsonread


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.md"
    fsio.atomic_write_text(target, "old\n")
    fsio.atomic_write_text(target, "new ¥1,556\n")
    assert target.read_text(encoding="utf-8") == "new ¥1,556\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md"]
    deep = tmp_path / "outputs" / "2026-11-27" / "md" / "report.md"  # parent folders are created
    assert fsio.atomic_write_text(deep, "x").read_text(encoding="utf-8") == "x"


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
    assert json.loads(target.read_text(encoding="utf-8")) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize("failing", ["replace", "fsync", "chmod"])
def test_a_write_failing_after_its_temp_exists_removes_the_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """The temp file is created first; whatever fails after that (disk full at fsync, a locked target
    on Windows at replace) must leave the old file and no ``.state.json.*.tmp`` behind."""
    target = tmp_path / "state.json"
    target.write_text('{"ok": 1}\n', encoding="utf-8")
    seen_temp: list[str] = []

    def boom(*args: object, **kwargs: object) -> None:
        seen_temp.extend(p.name for p in tmp_path.iterdir() if p.name != "state.json")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsio.os, failing, boom)
    with pytest.raises(fsio.OutputPathError) as info:  # exit 2, one line naming the file
        fsio.atomic_write_json(target, {"new": 2})
    assert str(info.value) == f"{target}: cannot write: No space left on device"
    monkeypatch.undo()
    assert len(seen_temp) == 1 and seen_temp[0].startswith(".state.json.")  # the temp did exist
    assert target.read_text(encoding="utf-8") == '{"ok": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_durable_write_fsyncs_the_data_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.fstat(fd).st_ino))
        real_fsync(fd)

    def replace(src: str, dst: str, **at: int) -> None:  # POSIX: names relative to the open folder
        events.append(("replace", os.stat(src, dir_fd=at.get("src_dir_fd")).st_ino))
        real_replace(src, dst, **at)

    monkeypatch.setattr(fsio.os, "fsync", fsync)
    monkeypatch.setattr(fsio.os, "replace", replace)
    target = fsio.atomic_write_text(tmp_path / "report.md", "data")
    file_ino, folder_ino = target.stat().st_ino, tmp_path.stat().st_ino
    expected = [("fsync", file_ino), ("replace", file_ino)]
    if os.name == "posix":
        expected.append(("fsync", folder_ino))  # the rename itself made durable
    assert events == expected
    events.clear()
    fsio.atomic_write_text(tmp_path / "bulk.csv", "data", durable=False)
    assert [e[0] for e in events] == ["replace"]  # durable=False: no fsync at all


def test_readers_never_see_a_half_written_file(tmp_path: Path) -> None:
    target = tmp_path / "trends.csv"
    big_a, big_b = "a" * 200_000, "b" * 200_000
    fsio.atomic_write_text(target, big_a)
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(target.read_text(encoding="utf-8")[:1] + str(len(target.read_text(encoding="utf-8"))))

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
        (b'{"global_step": 10, "rl',
         "truncated JSON (the file ends early): Unterminated string starting at (line 1, column 21)"),
        (b'{"a": [1, 2', "truncated JSON (the file ends early): Expecting ',' delimiter (line 1, column 12)"),
        (b'{"a": 1} trailing', "invalid JSON: Extra data (line 1, column 10)"),
        (b'{"a": 1,}', "invalid JSON: Expecting property name enclosed in double quotes (line 1, column 9)"),
        (b"", "file is empty"),
        (b"  \n", "file is empty"),
        (b"\xef\xbb\xbf", "file is empty"),
        (b"\xff\xfe{}", "not UTF-8 text (bad byte at offset 0)"),
        (b'{"k": "\xe6\x97"}', "not UTF-8 text (bad byte at offset 7)"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply to read"),
    ],
)  # fmt: skip
def test_read_json_reports_bad_content(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "summary.json"
    p.write_bytes(content)
    result = jsonread.read_json(p)
    assert not result.ok and result.value is None
    assert result.problem == jsonread.Problem(str(p), reason)


def test_read_json_accepts_bom_and_nan_literals(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_bytes(b'\xef\xbb\xbf{"v": NaN, "s": "\xe6\x97\xa5\xe6\x9c\xac"}')
    result = jsonread.read_json(p)
    assert result.ok and result.value["s"] == "日本"
    assert result.value["v"] != result.value["v"]  # NaN is parsed; callers validate


def test_read_json_missing_folder_and_fifo_do_not_hang(tmp_path: Path) -> None:
    assert jsonread.read_json_if_exists(tmp_path / "absent.json") is None
    assert "not found" in str(jsonread.read_json(tmp_path / "absent.json").problem)
    (tmp_path / "dir.json").mkdir()
    assert "folder" in str(jsonread.read_json(tmp_path / "dir.json").problem)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # open() on a FIFO with no writer would block forever
    assert "not a regular file" in str(jsonread.read_json(fifo).problem)


def test_read_json_size_limit(tmp_path: Path) -> None:
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"pad": "x" * 5000}), encoding="utf-8")  # 5,011 bytes
    assert jsonread.read_json(p, max_bytes=1024).problem == jsonread.Problem(
        str(p), "file is 5,011 bytes, over the 1,024 bytes limit"
    )
    assert (
        jsonread.read_json(p, max_bytes=5011).ok and jsonread.read_json(p).ok
    )  # the limit itself is allowed
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"pad": "x" * (3 * 2**20)}), encoding="utf-8")  # 3.0 MB
    assert jsonread.read_json(huge, max_bytes=2**21).problem == jsonread.Problem(
        str(huge), "file is 3.0 MB, over the 2.0 MB limit"
    )


def test_atomic_write_json_exact_text_and_durability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(fsio.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    target = fsio.atomic_write_json(tmp_path / "state.json", {"a": 1, "円": ["¥"]})
    assert target.read_bytes() == '{\n  "a": 1,\n  "円": [\n    "¥"\n  ]\n}\n'.encode()
    assert len(synced) == (2 if os.name == "posix" else 1)  # the file, then its folder
    synced.clear()
    fsio.atomic_write_json(tmp_path / "c.json", {"a": 1}, indent=None, durable=False)
    assert (tmp_path / "c.json").read_text(encoding="utf-8") == '{"a": 1}\n' and synced == []
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        fsio.atomic_write_json(tmp_path / "nan.json", {"v": float("inf")})


def test_current_umask_is_read_without_changing_it() -> None:
    old = os.umask(0o027)
    try:
        assert fsio._current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # still in force afterwards
    finally:
        os.umask(old)


def test_missing_file_problem_names_the_path(tmp_path: Path) -> None:
    p = tmp_path / "absent.json"
    assert jsonread.read_json(p).problem == jsonread.Problem(str(p), "file not found")
    assert jsonread.read_json(str(p)).problem == jsonread.Problem(str(p), "file not found")


def test_short_reads_are_read_to_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Network shares may return fewer bytes than asked before the end; the reader must go on."""
    p = tmp_path / "summary.json"
    p.write_text(json.dumps({"global_step": 12345, "pad": "x" * 3000}), encoding="utf-8")
    real_read = os.read
    monkeypatch.setattr(fsio.os, "read", lambda fd, n: real_read(fd, min(n, 700)))
    result = jsonread.read_json(p)
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
        "import sys, ztbkit.core.fsio as f\n"
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
        with pytest.raises(jsonread.InputFileError, match=reason):
            jsonread.open_regular(path)
    (tmp_path / "f").write_bytes(b"abc")
    with jsonread.open_regular(tmp_path / "f") as fh:
        assert fh.read() == b"abc"


def test_huge_integers_are_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text('{"global_step": ' + "9" * 5001 + "}", encoding="utf-8")
    read = jsonread.read_json(tmp_path / "s.json")
    assert (
        read.problem is not None and "invalid JSON" in read.problem.reason and "4300" in read.problem.reason
    )


def test_permission_denied_is_a_one_line_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root, where chmod 000 does not stop a read: the OS refusal is simulated at open()."""
    p = tmp_path / "summary.json"
    p.write_text("{}", encoding="utf-8")

    def denied(path: str, flags: int, *a: object) -> int:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(fsio.os, "open", denied)
    result = jsonread.read_json(p)
    assert result.problem == jsonread.Problem(str(p), "cannot read: Permission denied")
    assert str(result.problem) == f"{p}: cannot read: Permission denied"


def test_mode_override_and_default_durability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = fsio.atomic_write_text(tmp_path / "hook.env", "URL=x", mode=0o600)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600  # credentials stay private
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(fsio.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    fsio.atomic_write_bytes(tmp_path / "b.bin", b"x")  # durable unless told otherwise
    assert len(synced) == (2 if os.name == "posix" else 1)


def test_temp_name_and_a_failing_cleanup_keep_the_first_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp is ``.<name>.<random>.tmp`` beside the target; if even removing it fails, the error the
    caller sees is still the one that stopped the write."""
    target = tmp_path / "state.json"
    names: list[str] = []

    def replace(src: str, dst: str, **at: int) -> None:
        names.append(Path(src).name)
        raise OSError(28, "No space left on device")

    def unlink(path: str, **at: int) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fsio.os, "replace", replace)
    monkeypatch.setattr(fsio.os, "unlink", unlink)
    with pytest.raises(OSError, match="No space left"):
        fsio.atomic_write_text(target, "x")
    assert len(names) == 1 and names[0].startswith(".state.json.") and names[0].endswith(".tmp")


def test_a_folder_that_refuses_fsync_does_not_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")  # some network file systems
        real_fsync(fd)

    monkeypatch.setattr(fsio.os, "fsync", fsync)
    assert fsio.atomic_write_text(tmp_path / "a.txt", "ok").read_text(encoding="utf-8") == "ok"


def test_exact_problems_for_folders_fifos_io_errors_and_growth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dir.json").mkdir()
    assert jsonread.read_json(tmp_path / "dir.json").problem == jsonread.Problem(
        str(tmp_path / "dir.json"), "is a folder, expected a file"
    )
    os.mkfifo(tmp_path / "fifo.json")
    assert jsonread.read_json(tmp_path / "fifo.json").problem == jsonread.Problem(
        str(tmp_path / "fifo.json"), "is not a regular file, expected a file"
    )
    exact = tmp_path / "mib.json"
    exact.write_bytes(b"[" + b" " * (2**20 - 2) + b"]")  # exactly 1 MiB
    assert jsonread.read_json(exact, max_bytes=1000).problem == jsonread.Problem(
        str(exact), "file is 1.0 MB, over the 1,000 bytes limit"
    )
    p = tmp_path / "s.json"
    body = b'{"pad": "' + b"x" * 130 + b'"}'  # 141 bytes
    p.write_bytes(body)
    real_read = os.read

    def io_error(fd: int, n: int) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fsio.os, "read", io_error)
    assert jsonread.read_json(p).problem == jsonread.Problem(str(p), "cannot read: Input/output error")
    # A file that grows while read: within the limit it is read whole, at the limit too, beyond it not.
    for limit, extra, expected in ((1000, b" " * 9, None), (150, b" " * 9, None),
                                   (150, b" " * 10, "file grew past the 150 bytes limit while being read")):  # fmt: skip
        chunks = [body[:10], body[10:] + extra, b""]
        monkeypatch.setattr(fsio.os, "read", lambda fd, n, c=chunks: c.pop(0) if c else real_read(fd, n))
        result = jsonread.read_json(p, max_bytes=limit)
        if expected is None:
            assert result.ok and result.value == {"pad": "x" * 130}, limit
        else:
            assert result.problem == jsonread.Problem(str(p), expected)


def test_text_with_undecodable_file_name_bytes_is_written_with_replacement_characters(tmp_path: Path) -> None:
    """A folder name read from a non-UTF-8 file system ("café" in Latin-1: a lone surrogate in Python)
    ends up in a report: the write never fails, and the byte becomes U+FFFD (EF BF BD in UTF-8)."""
    name = b"caf\xe9".decode("utf-8", "surrogateescape")
    out = fsio.atomic_write_text(tmp_path / "report.md", f"| {name} | 3 |\n")
    assert out.read_bytes() == b"| caf\xef\xbf\xbd | 3 |\n"
    # JSON's "\ud800" escape, read by Python, is a lone high surrogate; a pair split into two code
    # points is two lone surrogates. Each becomes one U+FFFD; the rest of the text is kept as is.
    for text, written in (("gpu \ud800 ¥", "gpu \ufffd ¥"), ("\ud83d\ude00!", "\ufffd\ufffd!"),
                          ("\udfff\ud800", "\ufffd\ufffd")):  # fmt: skip
        assert fsio.atomic_write_text(tmp_path / "s.md", text).read_bytes() == written.encode("utf-8"), text


def test_is_regular_file_says_yes_only_for_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "f.json").write_text("{}", encoding="utf-8")
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "f.json")
    assert jsonread.is_regular_file(tmp_path / "f.json") is True
    assert jsonread.is_regular_file(tmp_path / "link") is True  # after symlinks
    for other in ("d", "fifo", "missing", "nul\x00byte"):  # a NUL in a path is a ValueError: still False
        assert jsonread.is_regular_file(tmp_path / other) is False, other


def test_huge_integer_problem_names_the_file_in_one_line(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text('{"global_step": ' + "9" * 5001 + "}", encoding="utf-8")
    problem = jsonread.read_json(p).problem
    assert problem is not None and problem.path == str(p) and str(problem).startswith(f"{p}: invalid JSON: ")
    assert "\n" not in str(problem)


def test_first_line_of_an_error_is_its_message_or_else_its_type() -> None:
    assert jsonread._first_line(ValueError("first\nsecond")) == "first"
    assert jsonread._first_line(ValueError()) == "ValueError"  # no message: the kind of error, not ""
    assert jsonread._first_line(RecursionError("")) == "RecursionError"


def test_a_file_still_growing_at_the_limit_is_a_problem_not_a_cut_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read so far: exactly the limit. More is there: the file grew past it, and half of it must never
    be parsed as if it were whole (a JSON list cut at a comma would still be valid JSON)."""
    p = tmp_path / "s.json"
    p.write_bytes(b"[1,2]")  # fstat sees 5 bytes; the writer appends while we read
    chunks = [b"[1,2,3,", b"4]", b""]  # 7 bytes: the limit, then 2 more
    monkeypatch.setattr(fsio.os, "read", lambda fd, n: chunks.pop(0))
    assert jsonread.read_json(p, max_bytes=7).problem == jsonread.Problem(
        str(p), "file grew past the 7 bytes limit while being read"
    )


def test_open_regular_names_a_fifo_exactly_and_returns_a_blocking_file(tmp_path: Path) -> None:
    """The FIFO check opens without blocking (O_NONBLOCK); the file handed back reads normally, in
    blocking mode, like any file the caller would open itself."""
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(jsonread.InputFileError) as info:
        jsonread.open_regular(tmp_path / "fifo")
    assert str(info.value) == f"{tmp_path / 'fifo'}: is not a regular file, expected a file"
    (tmp_path / "f").write_bytes(b"abc")
    with jsonread.open_regular(tmp_path / "f") as fh:
        assert os.get_blocking(fh.fileno()) is True and fh.read() == b"abc"


def test_stale_temps_older_than_the_age_only_files_of_ours_and_their_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1_800_000_000.0
    names = [".a.md.aaaaaaaa.tmp", ".b.md.bbbbbbbb.tmp", ".c.md.cccccccc.tmp", ".d.md.dddddddd.tmp"]
    for name, age in zip(names, (3601, 3600, 7200, 9000), strict=True):
        (tmp_path / name).write_bytes(b"half")
        os.utime(tmp_path / name, (now - age, now - age))
    # A link named like a temp file is not one of ours (mkstemp makes files): left, and so is its target.
    target = tmp_path / "user.txt"
    target.write_bytes(b"keep")
    link = tmp_path / ".e.md.eeeeeeee.tmp"
    link.symlink_to(target)
    os.utime(link, (now - 9000, now - 9000), follow_symlinks=False)
    os.utime(target, (now - 9000, now - 9000))
    removed = fsio.remove_stale_temps(tmp_path, now=now)
    # 3601 s is older than the hour; exactly 3600 s is not.
    assert sorted(removed) == [".a.md.aaaaaaaa.tmp", ".c.md.cccccccc.tmp", ".d.md.dddddddd.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".b.md.bbbbbbbb.tmp",
        ".e.md.eeeeeeee.tmp",
        "user.txt",
    ]
    assert link.is_symlink() and target.read_bytes() == b"keep"
    # The folder was removed meanwhile: nothing to do, and no error.
    assert fsio.remove_stale_temps(tmp_path / "gone", now=now) == []


def test_a_stale_temp_another_writer_removed_first_does_not_stop_the_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers in one folder both clean up: the one that loses the race on a file goes on."""
    now = 1_800_000_000.0
    for name in (".a.md.aaaaaaaa.tmp", ".b.md.bbbbbbbb.tmp"):
        (tmp_path / name).write_bytes(b"half")
        os.utime(tmp_path / name, (now - 7200, now - 7200))
    real_unlink, lost = os.unlink, []

    def raced_unlink(path: str) -> None:
        if not lost:  # the other writer got there first: gone when we try
            lost.append(path)
            real_unlink(path)
            raise FileNotFoundError(2, "No such file or directory", path)
        real_unlink(path)

    monkeypatch.setattr(fsio.os, "unlink", raced_unlink)
    removed = fsio.remove_stale_temps(tmp_path, now=now)
    assert len(lost) == 1 and list(tmp_path.iterdir()) == []
    # The one we removed is named; the one the other writer removed is not ours to report.
    assert removed == sorted({".a.md.aaaaaaaa.tmp", ".b.md.bbbbbbbb.tmp"} - {Path(lost[0]).name})


def test_no_room_for_the_temp_file_is_one_line_naming_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsio.tempfile, "mkstemp", mkstemp)  # Windows
    monkeypatch.setattr(fsio, "_create_temp", mkstemp)  # POSIX: created in the open folder
    with pytest.raises(fsio.OutputPathError) as info:
        fsio.atomic_write_text(target, "x")
    assert str(info.value) == f"{target}: cannot write: No space left on device"


def test_ctrl_c_during_a_write_is_still_ctrl_c_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only OS errors become "cannot write"; an interrupt stays an interrupt (never reported as a bad
    path), and the old file and no temp file are what is left."""
    target = tmp_path / "state.json"
    target.write_text("old\n", encoding="utf-8")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fsio.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fsio.atomic_write_text(target, "new\n")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert target.read_text(encoding="utf-8") == "old\n"


def test_an_unreachable_output_folder_is_the_os_reason_in_words(tmp_path: Path) -> None:
    """The reason is the OS's words ("Read-only file system", "File name too long"), never Python's
    ``[Errno N] ...: 'path'`` repr."""
    too_long = tmp_path / ("x" * 300) / "report.md"  # a folder name over the 255-byte limit
    with pytest.raises(OSError) as expected:
        os.mkdir(too_long.parent)
    with pytest.raises(fsio.OutputPathError) as info:
        fsio.atomic_write_text(too_long, "x")
    assert str(info.value) == f"{too_long}: cannot write: {expected.value.strerror}"
    with pytest.raises(fsio.OutputPathError) as info:
        fsio.prepare_output_dir(too_long.parent)
    assert str(info.value) == f"{too_long.parent}: cannot write: {expected.value.strerror}"
    long_file = tmp_path / ("y" * 300)  # stat() itself refuses the name
    with pytest.raises(OSError) as expected:
        os.stat(long_file)
    with pytest.raises(fsio.OutputPathError) as info:
        fsio.atomic_write_text(long_file, "x")
    assert str(info.value) == f"{long_file}: cannot write: {expected.value.strerror}"


def test_a_lone_surrogate_escape_reads_as_a_replacement_character(tmp_path: Path) -> None:
    """``"\\ud800"`` alone is valid JSON, but the lone surrogate Python makes of it can be neither written
    as UTF-8 nor sent to a notebook kernel: the reader puts U+FFFD there, in values and keys alike. A
    real pair stays the character it encodes; an escaped backslash stays text."""
    p = tmp_path / "run_metadata.json"
    p.write_bytes(
        b'{"gpu_model": "RTX \\ud800", "\\udfff": ["\\ud83d\\ude00", "C:\\\\ud800", 1.5, NaN, null]}'
    )
    value = jsonread.read_json(p).value
    assert list(value) == ["gpu_model", "\ufffd"] and value["gpu_model"] == "RTX \ufffd"
    assert value["\ufffd"][:3] == ["\U0001f600", "C:\\ud800", 1.5]  # "C:\ud800" as six characters
    assert value["\ufffd"][3] != value["\ufffd"][3] and value["\ufffd"][4] is None  # NaN, null kept
    # As deep as Python's reader goes, the mending goes too (it does not recurse).
    deep = b"[" * 900 + b'"\\udc00"' + b"]" * 900
    p.write_bytes(deep)
    inner = jsonread.read_json(p).value
    for _ in range(900):
        inner = inner[0]
    assert inner == "\ufffd"
