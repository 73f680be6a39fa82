"""The load cache is updated for what changed (an append-only journal), survives kill -9 mid-write, and
never hides a change: in place keeping size and mtime second, or in the same clock tick as the read."""

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
from typing import Any

import pytest
from test_loadcache import age

import ztbkit.data.loadcache
from ztbkit.data.artifacts import load_artifacts
from ztbkit.data.loadcache import LoadCache, journal_path


def _tree(make_tree: Any, n: int = 12) -> Path:
    root: Path = make_tree({f"s{i:02d}": {"summary.json": {"global_step": 100 + i, "rl_sharpe": 0.5}}
                            for i in range(n)})  # fmt: skip
    return age(root)


def _replace(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_suffix(".new")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


def _load(root: Path, cache_file: Path) -> tuple[dict[str, Any], LoadCache]:
    cache = LoadCache(cache_file)
    tree = load_artifacts(root, cache=cache)
    return {s.session_id: (s.global_step, s.rl_sharpe) for s in tree.sessions}, cache


def test_a_warm_night_appends_what_changed_and_leaves_the_base_alone(make_tree: Any, tmp_path: Path) -> None:
    root, cache_file = _tree(make_tree), tmp_path / "c.parquet"
    _load(root, cache_file)
    base = cache_file.read_bytes()
    assert not journal_path(cache_file).exists()
    for name in ("s03", "s07"):
        _replace(root / name / "summary.json", {"global_step": 999, "rl_sharpe": 1.5})
    age(root / "s03")
    age(root / "s07")
    got, cache = _load(root, cache_file)
    assert cache.parsed == 2 and got["s03"] == got["s07"] == (999, 1.5)
    assert cache_file.read_bytes() == base  # not rewritten
    assert len(journal_path(cache_file).read_bytes().splitlines()) == 2
    again, cache = _load(root, cache_file)  # the journal is read back: nothing parsed
    assert cache.parsed == 0 and again == got


def test_an_in_place_rewrite_keeping_size_and_mtime_second_is_seen(make_tree: Any, tmp_path: Path) -> None:
    root, cache_file = _tree(make_tree), tmp_path / "c.parquet"
    _load(root, cache_file)
    path = root / "s05" / "summary.json"
    st = os.stat(path)
    old = path.read_text(encoding="utf-8")
    new = old.replace("105", "777")
    assert len(new) == len(old) and new != old
    with open(path, "r+", encoding="utf-8") as f:
        f.write(new)
    second = st.st_mtime_ns // 10**9 * 10**9
    os.utime(path, ns=(st.st_atime_ns, second + (st.st_mtime_ns + 1) % 10**9))
    assert os.stat(path).st_ino == st.st_ino
    got, cache = _load(root, cache_file)
    assert got["s05"][0] == 777 and cache.parsed == 1


@pytest.mark.parametrize("how", ["touch-r", "cp-p"])
def test_a_rewrite_with_its_mtime_put_back_exactly_is_seen(make_tree: Any, tmp_path: Path, how: str) -> None:
    """Same size, same mtime to the nanosecond, same inode (``touch -r``, or ``cp -p`` of an older copy
    over the file), other numbers: the change time, which cannot be put back, tells."""
    root, cache_file = _tree(make_tree), tmp_path / "c.parquet"
    _load(root, cache_file)
    path = root / "s05" / "summary.json"
    st = os.stat(path)
    time.sleep(0.02)  # ctime has a coarse clock (a few ms): the rewrite must fall in a later tick
    old = path.read_text(encoding="utf-8")
    new = old.replace("105", "777")
    assert len(new) == len(old) and new != old
    if how == "touch-r":
        with open(path, "r+", encoding="utf-8") as f:
            f.write(new)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        backup = tmp_path / "backup.json"
        backup.write_text(new, encoding="utf-8")
        os.utime(backup, ns=(st.st_atime_ns, st.st_mtime_ns))
        subprocess.run(["cp", "-p", str(backup), str(path)], check=True)
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    got, cache = _load(root, cache_file)
    assert got["s05"][0] == 777 and cache.parsed == 1


def test_a_rewrite_in_the_same_clock_tick_as_the_read_is_seen_next_night(
    make_tree: Any, tmp_path: Path
) -> None:
    root, cache_file = _tree(make_tree), tmp_path / "c.parquet"
    path = root / "s01" / "summary.json"
    path.write_text(json.dumps({"global_step": 111, "rl_sharpe": 0.5}), encoding="utf-8")  # just now
    assert _load(root, cache_file)[0]["s01"][0] == 111
    st = os.stat(path)
    with open(path, "r+", encoding="utf-8") as f:  # same size, and the mtime put back: identity unchanged
        f.write(json.dumps({"global_step": 222, "rl_sharpe": 0.5}))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _load(root, cache_file)[0]["s01"][0] == 222


def test_a_long_journal_is_folded_into_a_new_base(
    make_tree: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ztbkit.data.loadcache, "COMPACT_MIN", 3)
    root, cache_file = _tree(make_tree, 8), tmp_path / "c.parquet"
    _load(root, cache_file)
    for night in range(4):
        _replace(root / f"s0{night}" / "summary.json", {"global_step": 500 + night})
        age(root / f"s0{night}")
        _load(root, cache_file)
    # nights 1-3 appended one line each; the fourth would pass 3 lines: the base was rewritten instead
    assert not journal_path(cache_file).exists()
    got, cache = _load(root, cache_file)
    assert cache.parsed == 0 and [got[f"s0{i}"][0] for i in range(4)] == [500, 501, 502, 503]


def test_a_torn_or_hostile_journal_line_is_skipped(make_tree: Any, tmp_path: Path) -> None:
    root, cache_file = _tree(make_tree), tmp_path / "c.parquet"
    _load(root, cache_file)
    _replace(root / "s02" / "summary.json", {"global_step": 42})
    age(root / "s02")
    _load(root, cache_file)
    journal = journal_path(cache_file)
    line = json.loads(journal.read_bytes().splitlines()[0])
    forged = {
        **line,
        "row": {**line["row"], "folder": str(root / "s04"), "session_id": "s04", "global_step": "x"},
    }
    other = {**line, "g": "another-generation"}
    with open(journal, "ab") as f:
        f.write(json.dumps(forged).encode() + b"\n" + json.dumps(other).encode() + b"\n" + b'{"g": "tor')
    truth = {s.session_id: (s.global_step, s.rl_sharpe) for s in load_artifacts(root).sessions}
    got, _cache = _load(root, cache_file)
    assert got == truth
    _replace(root / "s06" / "summary.json", {"global_step": 66})  # the next append cuts the torn tail first
    age(root / "s06")
    _load(root, cache_file)
    assert journal.read_bytes().endswith(b"\n") and b'{"g": "tor' not in journal.read_bytes()
    got, cache = _load(root, cache_file)
    assert got["s06"][0] == 66 and got["s02"][0] == 42 and cache.parsed == 0


NIGHTS = textwrap.dedent(
    """
    import json, os, random, sys
    from pathlib import Path
    from ztbkit.data.artifacts import load_artifacts
    import ztbkit.data.loadcache
    from ztbkit.data.loadcache import LoadCache
    root, cache_file = Path(sys.argv[1]), Path(sys.argv[2])
    ztbkit.data.loadcache.COMPACT_MIN = int(sys.argv[3])  # small: the base is rewritten every few nights
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    print("ready", flush=True)
    step = 1000
    while True:
        step += 1
        for name in random.sample(names, 3):
            path = root / name / "summary.json"
            path.with_suffix(".new").write_text(json.dumps({"global_step": step}), encoding="utf-8")
            os.replace(path.with_suffix(".new"), path)
        load_artifacts(root, cache=LoadCache(cache_file))
    """
)


@pytest.mark.parametrize(("round_", "compact_at"), [(0, 1000), (1, 1000), (2, 4), (3, 4)])
def test_kill_9_mid_write_leaves_a_usable_cache(
    make_tree: Any, tmp_path: Path, round_: int, compact_at: int
) -> None:
    """Nights that change 3 sessions each and append to (or, past the threshold, rewrite) the cache,
    killed at a random moment: the next load with the cache equals a load without it."""
    root, cache_file = _tree(make_tree, 40), tmp_path / "c.parquet"
    load_artifacts(root, cache=LoadCache(cache_file))
    child = subprocess.Popen(
        [sys.executable, "-c", NIGHTS, str(root), str(cache_file), str(compact_at)], stdout=subprocess.PIPE
    )
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    time.sleep(random.uniform(0.2, 2.5))
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    truth = {s.session_id: s.global_step for s in load_artifacts(root).sessions}
    cache = LoadCache(cache_file)
    got = {s.session_id: s.global_step for s in load_artifacts(root, cache=cache).sessions}
    assert got == truth
    assert any(v > 1000 for v in truth.values())  # the child did change sessions before it was killed
