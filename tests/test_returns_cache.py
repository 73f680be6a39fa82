"""The leaderboard's return moments are cached by file identity: a changed session's numbers always change.

Every test first fills the cache from files aged past the racy window (as a tree a night old is), then
changes a session the way the world does — in place keeping size and mtime second, a new file, an
appended TensorBoard log, a folder whose mtime the file system does not update — and checks the next
leaderboard shows the new value, and that the untouched sessions came from the cache.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import MakeTree
from test_leaderboard import TB_RETURNS, hand_moments, write_tb

from ztbkit.analysis.leaderboard import trials_adjusted
from ztbkit.analysis.returns_cache import ReturnsCache, default_path
from ztbkit.data.artifacts import load_artifacts
from ztbkit.data.folderid import RACY_NS, filesystem_type, mtimes_trusted

A = [0.01, -0.005, 0.02, 0.0, 0.015, -0.01, 0.005, 0.012]
B = [0.03, -0.005, 0.02, 0.0, 0.015, -0.01, 0.005, 0.012]  # same length when written: same size
DAY_NS = 86_400 * 10**9


def _age(root: Path, ns: int = DAY_NS) -> None:
    """Every file and folder under ``root`` made ``ns`` older (a tree written last night)."""
    for here, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            p = os.path.join(here, name)
            st = os.stat(p)
            os.utime(p, ns=(st.st_atime_ns - ns, st.st_mtime_ns - ns))


def _sharpes(root: Path, cache: ReturnsCache | bool = True) -> dict[str, tuple[float, str]]:
    board = trials_adjusted(load_artifacts(root).sessions, cache=cache)
    return {r.session_id: (r.sharpe, r.source) for r in board.rows}


def _tree(make_tree: MakeTree) -> Path:
    root = make_tree(
        {
            name: {"summary.json": {"rl_sharpe": 1.0 + i, "dsr": 0.5}, "eval_returns.json": {"returns": A}}
            for i, name in enumerate(("s1", "s2", "s3"))
        }
        | {"s4": {"summary.json": {"rl_sharpe": 0.7, "dsr": 0.4}}}
    )
    _age(root)
    return root


def _expected(xs: list[float]) -> float:
    return hand_moments(xs)[0] * 252**0.5


def test_an_in_place_rewrite_keeping_size_and_mtime_second_is_seen(make_tree: MakeTree) -> None:
    root = _tree(make_tree)
    first = _sharpes(root)
    assert first["s2"][0] == pytest.approx(_expected(A))
    path = root / "s2" / "eval_returns.json"
    before = os.stat(path)
    old, new = json.dumps({"returns": A}), json.dumps({"returns": B})
    assert len(old) == len(new)
    with open(path, "r+", encoding="utf-8") as f:  # in place: same inode, same size
        f.write(new)
    second = before.st_mtime_ns // 10**9 * 10**9
    os.utime(path, ns=(before.st_atime_ns, second + (before.st_mtime_ns + 1) % 10**9))  # same second
    assert os.stat(path).st_ino == before.st_ino and os.stat(path).st_size == before.st_size
    cache = ReturnsCache()
    got = _sharpes(root, cache)
    assert got["s2"][0] == pytest.approx(_expected(B)) != pytest.approx(_expected(A))
    assert got["s1"] == first["s1"] and cache.misses == 1 and cache.hits == 3  # s4 has no series: cached too


@pytest.mark.parametrize("how", ["touch-r", "cp-p"])
def test_a_rewrite_with_its_mtime_put_back_exactly_is_seen(make_tree: MakeTree, how: str) -> None:
    """Size, mtime (to the nanosecond) and inode all as before — ``touch -r``, or ``cp -p`` of an older
    copy over the file — yet the returns changed: the change time, which cannot be put back, tells."""
    import subprocess

    root = _tree(make_tree)
    assert _sharpes(root)["s2"][0] == pytest.approx(_expected(A))
    path = root / "s2" / "eval_returns.json"
    before = os.stat(path)
    time.sleep(0.02)  # ctime has a coarse clock (a few ms): the rewrite must fall in a later tick
    if how == "touch-r":
        with open(path, "r+", encoding="utf-8") as f:
            f.write(json.dumps({"returns": B}))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        backup = root / "backup.json"
        backup.write_text(json.dumps({"returns": B}), encoding="utf-8")
        os.utime(backup, ns=(before.st_atime_ns, before.st_mtime_ns))
        subprocess.run(["cp", "-p", str(backup), str(path)], check=True)
        backup.unlink()
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert _sharpes(root)["s2"][0] == pytest.approx(_expected(B))
    assert _sharpes(root, False)["s2"][0] == pytest.approx(_expected(B))


def test_a_file_changed_within_the_racy_window_is_read_again_even_with_the_same_identity(
    make_tree: MakeTree,
) -> None:
    root = _tree(make_tree)
    path = root / "s1" / "eval_returns.json"
    path.write_text(json.dumps({"returns": A}), encoding="utf-8")  # just written: its mtime is now
    assert _sharpes(root)["s1"][0] == pytest.approx(_expected(A))
    st = os.stat(path)
    with open(path, "r+", encoding="utf-8") as f:  # rewritten in the same clock tick: identity unchanged
        f.write(json.dumps({"returns": B}))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _sharpes(root)["s1"][0] == pytest.approx(_expected(B))


def test_a_new_eval_file_and_a_removed_one_are_seen(make_tree: MakeTree) -> None:
    root = _tree(make_tree)
    _sharpes(root)
    (root / "s3" / "eval_returns.json").unlink()
    (root / "s3" / "eval_a.json").write_text(json.dumps(B), encoding="utf-8")  # name order: read first
    (root / "s1" / "eval_returns.json").unlink()
    got = _sharpes(root)
    assert got["s3"] == (pytest.approx(_expected(B)), "returns: eval_a.json")
    assert got["s1"][1] == "bot rl_sharpe"


def test_a_folder_whose_mtime_is_not_updated_is_listed_when_mtimes_are_not_trusted(
    make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a network file system can do: a new file, the folder's mtime as before. With folder mtimes
    not trusted (ZTB_TRUST_DIR_MTIMES=0, or any file system outside the local list) it is still seen;
    trusted, it is not — which is why only local file systems are trusted."""
    root = _tree(make_tree)
    _sharpes(root)
    folder = root / "s4"
    st = os.stat(folder)
    (folder / "eval_returns.json").write_text(json.dumps({"returns": B}), encoding="utf-8")
    os.utime(folder / "eval_returns.json", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.utime(folder, ns=(st.st_atime_ns, st.st_mtime_ns))
    if mtimes_trusted(str(root)):
        assert _sharpes(root)["s4"][1] == "bot rl_sharpe"  # the one blind spot, on a local file system
    monkeypatch.setenv("ZTB_TRUST_DIR_MTIMES", "0")
    assert _sharpes(root)["s4"][0] == pytest.approx(_expected(B))


def test_an_appended_tensorboard_log_is_seen(make_tree: MakeTree) -> None:
    root = make_tree({"t": {"summary.json": {"rl_sharpe": 0.1}}, "u": {"summary.json": {"rl_sharpe": 0.3}}})
    write_tb(root / "t" / "tb", "eval/return", TB_RETURNS)
    _age(root)
    first = _sharpes(root)
    assert first["t"] == (pytest.approx(_expected(TB_RETURNS)), "returns: TensorBoard eval/return")
    log = next((root / "t" / "tb").iterdir())
    st = os.stat(log)
    more = [*TB_RETURNS, 0.05, 0.04]
    write_tb(root / "t" / "tb2", "eval/return", more)  # a second writer's records appended in place
    extra = next((root / "t" / "tb2").iterdir()).read_bytes()
    with open(log, "r+b") as f:
        f.truncate(0)
        f.write(extra)
    os.utime(log, ns=(st.st_atime_ns, st.st_mtime_ns - DAY_NS))  # even with an older mtime
    for p in (root / "t" / "tb2").iterdir():
        p.unlink()
    (root / "t" / "tb2").rmdir()
    os.utime(root / "t", ns=(st.st_atime_ns, st.st_mtime_ns - DAY_NS))
    assert _sharpes(root)["t"][0] == pytest.approx(_expected(more))


def test_a_hostile_or_foreign_cache_file_is_ignored(make_tree: MakeTree) -> None:
    root = _tree(make_tree)
    truth = _sharpes(root, cache=False)
    path = default_path(str(root))
    docs = [b"\x00garbage", b"[]", b'{"version": 1}']
    _sharpes(root)
    good = json.loads(path.read_bytes())
    entry = good["entries"]["s1"]
    docs += [
        json.dumps(
            {**good, "entries": {"s1": "x", "s2": [1, 2], "s3": [None, [1], [], None, None]}}
        ).encode(),
        json.dumps(
            {**good, "entries": {"s1": [entry[0], ["../../etc/passwd"], [None], None, [9, 9, 9, 9, "x"]]}}
        ).encode(),
        json.dumps({**good, "code": "other"}).encode(),
        json.dumps(
            {**good, "entries": {"s1": [*entry[:4], [99.0, 0.0, 3.0, 8, "forged"]]}, "tag": "other"}
        ).encode(),
    ]
    for doc in docs:
        path.write_bytes(doc)
        assert _sharpes(root) == truth, doc[:80]


def test_nothing_is_written_under_ztb_no_cache(make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(make_tree)
    monkeypatch.setenv("ZTB_NO_CACHE", "1")
    _sharpes(root)
    assert not default_path(str(root)).exists()


def test_the_mount_table_names_the_file_system() -> None:
    kind = filesystem_type(os.getcwd())
    if os.name == "posix" and os.path.exists("/proc/self/mountinfo"):
        assert kind  # e.g. ext4, overlay, tmpfs
        assert mtimes_trusted(os.getcwd()) == (kind in {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs",
                                                          "zfs", "jfs", "reiserfs"})  # fmt: skip
    assert RACY_NS >= 10**9


def test_two_nights_the_changed_session_shows_its_new_numbers_in_the_reports(
    make_tree: MakeTree, tmp_path: Path
) -> None:
    """The promise end to end: two nightly runs with every cache warm; between them one session's
    eval file and summary.json are rewritten in place keeping size and mtime second. The second night's
    dashboard (leaderboard) and trends.csv show the new numbers."""
    from ztbkit.data.loadcache import LoadCache
    from ztbkit.ops.nightly import run_nightly

    root = _tree(make_tree)
    out, cache = tmp_path / "out", tmp_path / "load.parquet"
    first = run_nightly(root, out, date_text="2025-10-31", cache=LoadCache(cache))
    assert first.ok, [s.line() for s in first.steps]
    day = out / "2025-10-31"
    assert f"{_expected(A):.3f}" in (day / "dashboard.md").read_text(encoding="utf-8")

    for name, old, new in (("eval_returns.json", json.dumps({"returns": A}), json.dumps({"returns": B})),
                           ("summary.json", None, None)):  # fmt: skip
        path = root / "s2" / name
        st = os.stat(path)
        if old is None:  # rl_sharpe 2.0 -> 7.0: same length
            old = path.read_text(encoding="utf-8")
            new = old.replace("2.0", "7.0")
        assert path.read_text(encoding="utf-8") == old and len(new) == len(old)
        with open(path, "r+", encoding="utf-8") as f:
            f.write(new)
        second = st.st_mtime_ns // 10**9 * 10**9
        os.utime(path, ns=(st.st_atime_ns, second + (st.st_mtime_ns + 1) % 10**9))
    again = run_nightly(root, out, date_text="2025-10-31", cache=LoadCache(cache))
    assert again.ok, [s.line() for s in again.steps]
    board = (day / "dashboard.md").read_text(encoding="utf-8")
    assert f"{_expected(B):.3f}" in board and f"| s2 | {_expected(B):.3f} |" in board
    rows = {
        line.split(",")[0]: line for line in (day / "trends.csv").read_text(encoding="utf-8").splitlines()
    }
    assert ",7.0," in rows["s2"] and ",2.0," not in rows["s2"]
