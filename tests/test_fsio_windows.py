"""Windows-safe writes: ``os.replace`` retried while another program holds the target open.

On Linux the Windows errors are injected (``PermissionError`` with ``winerror`` 5/32/33, as Windows
raises while Defender, the search indexer or an editor has the file open); the tests marked
``windows`` hold a real file open on a real Windows machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ztbkit.cli import cli
from ztbkit.core import fsio
from ztbkit.core.clock import FakeClock
from ztbkit.core.errors import OutputPathError

REAL_REPLACE = os.replace


def windows_error(winerror: int) -> PermissionError:
    exc = PermissionError(
        13, "The process cannot access the file because it is being used by another process"
    )
    exc.winerror = winerror  # type: ignore[attr-defined]  (set by Windows builds of Python)
    return exc


def failing_replace(failures: int, winerror: int = 32) -> tuple[Callable[..., None], list[str]]:
    """An os.replace that raises the Windows error ``failures`` times, then really replaces."""
    calls: list[str] = []

    def replace(src: str, dst: str, **at: int) -> None:  # POSIX: names relative to the open folder
        calls.append(os.fspath(dst))
        if len(calls) <= failures:
            raise windows_error(winerror)
        REAL_REPLACE(src, dst, **at)

    return replace, calls


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(fsio, "SYSTEM_CLOCK", fake)
    return fake


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("winerror", [5, 32, 33])
def test_replace_retried_until_the_other_program_lets_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock, winerror: int
) -> None:
    target = tmp_path / "budget_daily.md"
    target.write_bytes(b"old\n")
    replace, calls = failing_replace(2, winerror)
    monkeypatch.setattr(os, "replace", replace)
    fsio.atomic_write_text(target, "new ¥1,556\n")
    assert target.read_bytes() == "new ¥1,556\n".encode()
    assert len(calls) == 3 and len(clock.sleeps) == 2 and leftovers(tmp_path) == []


def test_replace_gives_up_after_about_a_second_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    target = tmp_path / "trends.csv"
    target.write_bytes(b"old\n")
    replace, calls = failing_replace(10**6)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutputPathError) as err:  # exit 2, one line naming the file
        fsio.atomic_write_text(target, "new\n")
    assert str(err.value) == (
        f"{target}: cannot write: The process cannot access the file because it is being used by another"
        " process (still in use after 8 tries over 1.0 s: another program such as antivirus, the search"
        " indexer or an editor has it open)"
    )
    assert 0.5 <= sum(clock.sleeps) <= 1.5 and len(calls) == len(clock.sleeps) + 1 <= 10  # bounded
    assert target.read_bytes() == b"old\n" and leftovers(tmp_path) == []  # nothing lost, no temp left


def test_replace_retrying_gives_up_with_the_error_a_caller_can_inspect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """Called directly: a PermissionError with errno 13, the target as its filename, the wait in its
    words, and the last Windows error as its cause; "in use" stands in when Windows gave no text."""
    src, dst = tmp_path / "new.tmp", tmp_path / "state.json"
    src.write_bytes(b"new")
    last = windows_error(33)
    last.strerror = None

    def replace(src: str, dst: str, **at: int) -> None:
        raise last

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PermissionError) as err:
        fsio.replace_retrying(src, dst, delays=(0.5, 0.25))
    assert (err.value.errno, err.value.filename, err.value.__cause__) == (13, str(dst), last)
    assert err.value.strerror == (
        "in use (still in use after 3 tries over 0.8 s: another program such as antivirus, the search"
        " indexer or an editor has it open)"
    )
    assert clock.sleeps == [0.5, 0.25] and src.read_bytes() == b"new"  # the caller still owns src


def test_posix_permission_error_and_other_windows_errors_are_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    for exc in (PermissionError(13, "Permission denied"), windows_error(2)):

        def replace(src: str, dst: str, exc: OSError = exc, **at: int) -> None:
            raise exc

        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(OutputPathError):
            fsio.atomic_write_text(tmp_path / "x.txt", "x")
        assert clock.sleeps == [] and leftovers(tmp_path) == []


def test_cli_reports_a_locked_file_on_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock, make_tree: Callable[..., Path]
) -> None:
    root = make_tree({"s": {"summary.json": {"rl_sharpe": 1.0}}})
    out = tmp_path / "reports" / "trends.csv"
    monkeypatch.setattr(os, "replace", failing_replace(10**6)[0])
    r = CliRunner().invoke(cli, ["trends", "--artifacts-dir", str(root), "--out", str(out)])
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith(f"ztb: error: {out}: ") and "still in use" in lines[0]
    assert not out.exists() and leftovers(out.parent) == []


def test_cli_other_oserror_is_one_line_naming_the_path(
    tmp_path: Path, make_tree: Callable[..., Path]
) -> None:
    root = make_tree({"s": {"summary.json": {"rl_sharpe": 1.0}}})
    (tmp_path / "plain-file").write_bytes(b"")
    out = tmp_path / "plain-file" / "trends.csv"  # its "folder" is a file: mkdir fails
    r = CliRunner().invoke(cli, ["trends", "--artifacts-dir", str(root), "--out", str(out)])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and str(tmp_path / "plain-file") in r.stderr, (
        r.stderr
    )


@pytest.mark.windows
def test_real_sharing_violation_is_waited_out(tmp_path: Path) -> None:
    """Windows: a reader holding the target open (no FILE_SHARE_DELETE, as Python opens files)."""
    target = tmp_path / "dashboard.html"
    target.write_bytes(b"old")
    holder = open(target, "rb")  # noqa: SIM115  (closed by the timer below)
    timer = threading.Timer(0.3, holder.close)
    timer.start()
    try:
        fsio.atomic_write_text(target, "new")
    finally:
        timer.join()
        holder.close()
    assert target.read_bytes() == b"new" and leftovers(tmp_path) == []


@pytest.mark.windows
def test_real_sharing_violation_that_lasts_is_one_error(tmp_path: Path) -> None:
    target = tmp_path / "dashboard.html"
    target.write_bytes(b"old")
    with open(target, "rb"), pytest.raises(PermissionError) as err:
        fsio.atomic_write_text(target, "new")
    assert err.value.filename == str(target) and target.read_bytes() == b"old" and leftovers(tmp_path) == []
