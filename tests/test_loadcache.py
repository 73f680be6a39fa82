"""Incremental loading: only changed sessions are parsed; outputs equal a cold run; a bad cache is ignored."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import ztbkit.data.artifacts
from ztbkit.data.artifacts import load_artifacts
from ztbkit.data.columns import SnapshotWarning
from ztbkit.data.loadcache import LoadCache


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ztbkit.data.demo import build_demo

    out = tmp_path_factory.mktemp("big") / "tree"
    root = Path(
        build_demo(out, sessions=1000, seed=13, tb_sessions=0, with_logs=False, durable=False).artifacts_dir
    )
    return age(root)


def age(root: Path, ns: int = 86_400 * 10**9) -> Path:
    """Every file and folder under ``root`` made a day older: a tree the bot wrote last night. (A file
    modified within 2 s of a load is not trusted by the cache the next time, so it would be parsed.)"""
    for here, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            p = os.path.join(here, name)
            st = os.stat(p)
            os.utime(p, ns=(st.st_atime_ns - ns, st.st_mtime_ns - ns))
    return root


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every session folder the loader parses, in order (load_session is the one parse of a session)."""
    seen: list[str] = []
    real = ztbkit.data.artifacts.load_session

    def counting(folder: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(os.path.basename(os.fspath(folder)))
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(ztbkit.data.artifacts, "load_session", counting)
    return seen


def outputs(tree: Any) -> tuple[str, str]:
    """The trends CSV and the budget report of ``tree`` (what a night writes from it)."""
    from ztbkit.analysis.trends import trend_table, trends_csv_text
    from ztbkit.money.budget import budget_markdown, budget_runs, rollup

    return trends_csv_text(trend_table(tree.sessions)), budget_markdown(rollup(budget_runs(tree.sessions)))


def test_one_changed_session_of_1000_is_the_only_one_parsed(
    big_tree: Path, tmp_path: Path, parses: list[str]
) -> None:
    cache_file = tmp_path / "cache.parquet"
    load_artifacts(big_tree, cache=LoadCache(cache_file))  # the first night: everything parsed
    on_disk = sorted(p.name for p in big_tree.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(parses) == len(on_disk) == 1000
    parses.clear()

    warm = load_artifacts(big_tree, cache=LoadCache(cache_file))
    assert parses == []  # nothing changed: nothing parsed

    victim = on_disk[500]
    summary = big_tree / victim / "summary.json"
    doc = json.loads(summary.read_text(encoding="utf-8"))
    doc["rl_sharpe"] = 9.25  # a new value, written the way the bot writes (a new file replaces the old)
    tmp = summary.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(tmp, summary)
    (big_tree / on_disk[10] / "ztb.stop").write_text(
        "", encoding="utf-8"
    )  # a kill file appears in another session
    warm = load_artifacts(big_tree, cache=LoadCache(cache_file))
    assert sorted(parses) == sorted([victim, on_disk[10]])
    assert warm.get(victim).rl_sharpe == 9.25  # type: ignore[union-attr]
    assert warm.get(on_disk[10]).stopped  # type: ignore[union-attr]

    parses.clear()
    cold = load_artifacts(big_tree)  # no cache at all
    assert len(parses) == 1000
    assert warm.sessions == cold.sessions and warm.all_issues() == cold.all_issues()
    assert outputs(warm) == outputs(cold)


def test_index_entry_change_reparses_that_session(make_tree: Any, tmp_path: Path, parses: list[str]) -> None:
    root = make_tree({"a": {"summary.json": {"global_step": 1}}, "b": {"summary.json": {"global_step": 2}}},
                     index=[{"id": "a", "status": "running"}, {"id": "b", "status": "running"}])  # fmt: skip
    age(root)
    cache_file = tmp_path / "c.parquet"
    load_artifacts(root, cache=LoadCache(cache_file))
    parses.clear()
    (root / "index.json").write_text(
        json.dumps([{"id": "a", "status": "running"}, {"id": "b", "status": "done"}]), encoding="utf-8"
    )
    tree = load_artifacts(root, cache=LoadCache(cache_file))
    assert parses == ["b"] and tree.get("b").status == "done"  # type: ignore[union-attr]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other-root", "other-version"])
def test_a_corrupted_or_mismatched_cache_is_ignored_with_a_warning(
    make_tree: Any, tmp_path: Path, parses: list[str], damage: str
) -> None:
    root = make_tree({"a": {"summary.json": {"global_step": 1, "rl_sharpe": 0.5}}})
    other = make_tree({"a": {"summary.json": {"global_step": 99}}}, root=tmp_path / "other")
    cache_file = tmp_path / "c.parquet"
    load_artifacts(other if damage == "other-root" else root, cache=LoadCache(cache_file))
    if damage == "garbage":
        cache_file.write_bytes(b"\x00not parquet at all")
    elif damage == "truncated":
        cache_file.write_bytes(cache_file.read_bytes()[:-40])
    elif damage == "other-version":
        import ztbkit.data.loadcache

        real = ztbkit.data.loadcache._parser_fingerprint
        ztbkit.data.loadcache._parser_fingerprint = lambda: "another-parser"  # type: ignore[assignment]
    parses.clear()
    try:
        with pytest.warns(SnapshotWarning, match="ignored"):
            tree = load_artifacts(root, cache=LoadCache(cache_file))
    finally:
        if damage == "other-version":
            ztbkit.data.loadcache._parser_fingerprint = real  # type: ignore[assignment]
    assert parses == ["a"]  # parsed, not taken from the bad cache
    assert tree.get("a").global_step == 1 and tree.get("a").rl_sharpe == 0.5  # type: ignore[union-attr]


def test_non_utf8_folder_names_and_lone_surrogates_survive_cache_and_snapshot(tmp_path: Path) -> None:
    """A folder named with bytes that are not UTF-8, and a bot file holding a lone "\\udcff" escape:
    Parquet stores only valid UTF-8, so neither may crash the nightly's cache or its snapshot."""
    from ztbkit.data.snapshot import read_snapshot, write_snapshot

    root = tmp_path / "artifacts"
    odd = root / os.fsdecode(b"run-\xff")
    odd.mkdir(parents=True)
    (odd / "summary.json").write_text('{"global_step": 7, "status": "\\udcff"}', encoding="utf-8")
    (root / "plain").mkdir()
    (root / "plain" / "summary.json").write_text('{"global_step": 9}', encoding="utf-8")
    age(root)
    cache = LoadCache(tmp_path / "cache.parquet")
    first = load_artifacts(root, cache=cache)
    second_cache = LoadCache(tmp_path / "cache.parquet")
    second = load_artifacts(root, cache=second_cache)
    steps = sorted(s.global_step or 0 for s in second.sessions)
    assert steps == sorted(s.global_step or 0 for s in first.sessions) == [7, 9]
    assert second_cache.reused == 1 and second_cache.parsed == 1  # the odd name cannot be a cache key
    snap = write_snapshot(second, tmp_path / "s.parquet", root)
    back = read_snapshot(snap, root)
    assert back is not None and sorted(s.global_step or 0 for s in back.sessions) == [7, 9]


def test_a_session_folder_whose_name_is_not_utf8_does_not_crash_the_nightly(tmp_path: Path) -> None:
    """README: such a folder is listed with a warning. The load cache (on by default in `ztb nightly`)
    must not turn it into a traceback: the nightly's steps still run and the other sessions load."""
    import subprocess
    import sys

    root = tmp_path / "artifacts"
    good = root / "20251001T000000Z"
    good.mkdir(parents=True)
    (good / "summary.json").write_text(json.dumps({"global_step": 1234, "rl_sharpe": 0.5}), encoding="utf-8")
    os.mkdir(os.path.join(os.fsencode(root), b"odd\xff-name"))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "XDG_CACHE_HOME": str(tmp_path / "cache"),
           **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}  # fmt: skip
    for night in ("first", "second"):  # the second night reads the cache the first wrote
        proc = subprocess.run(
            [sys.executable, "-m", "ztbkit", "nightly", "--artifacts-dir", str(root), "--out-dir",
             str(tmp_path / "out"), "--date", "2025-10-31", "--skip-notebooks"],
            capture_output=True, text=True, timeout=300, env=env, encoding="utf-8"
        )  # fmt: skip
        assert "Traceback" not in proc.stderr, (night, proc.stderr[-2000:])
        assert proc.returncode == 0, (night, proc.stderr)
        csv = (tmp_path / "out" / "2025-10-31" / "trends.csv").read_text(encoding="utf-8")
        assert "20251001T000000Z,1234," in csv, csv
