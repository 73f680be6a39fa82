"""The load-once snapshot: exact round trip, refused when stale or foreign, and really read by notebooks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ztbkit.data.artifacts import load_artifacts
from ztbkit.data.columns import SCHEMA_VERSION, SnapshotWarning, sessions_to_columns, to_parquet_bytes
from ztbkit.data.snapshot import load_tree, read_snapshot, write_snapshot


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ztbkit.data.demo import build_demo

    return Path(build_demo(tmp_path_factory.mktemp("d") / "demo", sessions=40, seed=5).artifacts_dir)


def test_round_trip_is_exact_on_demo_fixture_and_hostile_trees(
    demo_root: Path, bot_fixtures: Path, make_tree: Any, tmp_path: Path
) -> None:
    hostile = make_tree(
        {
            "2025X<script>": {
                "summary.json": '{"global_step": 123456789012345678901234567890, "rl_sharpe": "x"}'
            },
            "nan": {"metrics.json": '{"rss_peaks": [1, NaN, 3]}', "reports/gates.json": "{truncated"},
            "u64": {"summary.json": '{"global_step": 9223372036854775813}'},  # past int64, within uint64
            "gated": {"reports/gates.json": {"pass": False, "reasons": ["FAIL: memory_rss - too big"]}},
        },
        index={"sessions": [{"correlation_id": "ghost", "status": "RUNNING"}, {"id": 7}]},
    )
    for root in (demo_root, bot_fixtures / "artifacts", hostile):
        tree = load_artifacts(root)
        snap = write_snapshot(tree, tmp_path / f"{root.name}.parquet", root)
        back = read_snapshot(snap, root)
        assert back is not None
        # NaN inside a document never equals itself: compare those documents as JSON text instead.
        assert sessions_to_columns(back.sessions) == sessions_to_columns(tree.sessions)
        assert [s.gates for s in back.sessions] == [s.gates for s in tree.sessions]
        assert back.issues == tree.issues and back.all_issues() == tree.all_issues()
        if root != hostile:  # (a 90-bit global_step does not fit the DataFrame's Int64: artifacts' concern)
            assert back.to_dataframe().equals(tree.to_dataframe())
    big = read_snapshot(tmp_path / f"{hostile.name}.parquet", hostile)
    assert big is not None
    huge, ref = big.get("2025X<script>"), load_artifacts(hostile).get("2025X<script>")
    assert huge is not None and ref is not None
    assert (huge.global_step, huge.summary) == (ref.global_step, ref.summary)
    u64 = big.get("u64")
    assert u64 is not None and u64.global_step == 9223372036854775813


def test_sessions_read_back_behave_like_loaded_ones(
    demo_root: Path, bot_fixtures: Path, tmp_path: Path
) -> None:
    """Documents are parsed only when first used; a reader must not be able to tell."""
    import copy
    import dataclasses
    import pickle

    root = demo_root
    tree = load_artifacts(root)
    snap = write_snapshot(tree, tmp_path / "s.parquet", root)

    def fresh() -> list[Any]:
        back = read_snapshot(snap, root)
        assert back is not None
        return back.sessions

    assert fresh() == tree.sessions and tree.sessions == fresh()  # equal from either side
    with_docs = [s for s in tree.sessions if s.summary and s.metrics]
    assert with_docs, "the demo has sessions with a summary and metrics"
    ref = with_docs[0]
    idx = tree.sessions.index(ref)
    for clone in (copy.copy, copy.deepcopy, dataclasses.replace, lambda s: pickle.loads(pickle.dumps(s))):
        got = clone(fresh()[idx])
        assert got == ref and got.summary == ref.summary and got.metrics == ref.metrics
    assert dataclasses.asdict(fresh()[idx]) == dataclasses.asdict(ref)
    s = fresh()[idx]
    s.summary = {"replaced": 1}  # an assignment before the first read wins over the stored text
    assert s.summary == {"replaced": 1} and s != ref
    s = fresh()[idx]
    assert s.metrics is s.metrics  # parsed once, then the same object


def test_other_version_other_tree_or_garbage_is_ignored_with_a_warning(
    demo_root: Path, tmp_path: Path
) -> None:
    tree = load_artifacts(demo_root)
    cols = sessions_to_columns(tree.sessions)
    future = tmp_path / "future.parquet"
    future.write_bytes(
        to_parquet_bytes(cols, {"version": SCHEMA_VERSION + 1, "root": str(demo_root), "issues": []})
    )
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1 not really")
    good = write_snapshot(tree, tmp_path / "good.parquet", demo_root)
    for path, why in ((future, "schema version"), (garbage, "unreadable"), (good, "it is of")):
        root = demo_root if path != good else demo_root.parent
        with pytest.warns(SnapshotWarning, match=why):
            assert read_snapshot(path, root) is None
    # load_tree then reads the tree itself: the same sessions as a plain load.
    with pytest.warns(SnapshotWarning):
        assert load_tree(demo_root, future).sessions == tree.sessions


def test_notebook_reads_the_snapshot_not_the_tree(demo_root: Path, tmp_path: Path) -> None:
    """The tree is moved away after the snapshot is written: the notebook can only have used the snapshot."""
    from ztbkit.reports.runner import render_notebook

    root = tmp_path / "artifacts"
    os.symlink(demo_root, root)
    tree = load_artifacts(root)
    snap = write_snapshot(tree, tmp_path / "s.parquet", root)
    os.unlink(root)  # the root no longer exists
    result = render_notebook(
        "dashboard", artifacts_dir=root, out_dir=tmp_path / "o", parameters={"snapshot": str(snap)}
    )
    assert result.status == "ok", result.error
    html = (tmp_path / "o" / "dashboard.html").read_text(encoding="utf-8")
    assert all(s.session_id in html for s in tree.sessions)


def test_nightly_hands_the_notebooks_a_snapshot_of_what_it_loaded(
    demo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ztbkit.reports.runner
    from ztbkit.ops.nightly import run_nightly

    seen: dict[str, Any] = {}

    def fake_render(
        names: Any, *, artifacts_dir: Any, out_dir: Any, parameters: Any = None, **_: Any
    ) -> list[Any]:
        seen["params"] = dict(parameters or {})
        seen["tree"] = read_snapshot(parameters["snapshot"], artifacts_dir)
        return []

    monkeypatch.setattr(ztbkit.reports.runner, "render_reports", fake_render)
    run_nightly(demo_root, tmp_path / "out", date_text="2025-10-31")
    assert seen["tree"] is not None
    assert json.dumps(sessions_to_columns(seen["tree"].sessions)) == json.dumps(
        sessions_to_columns(load_artifacts(demo_root).sessions)  # priced by the nightly's budget step first
    )
    assert not Path(seen["params"]["snapshot"]).exists()  # removed after the run


def test_a_relative_nightly_root_matches_the_notebooks_absolute_one(
    demo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ztb nightly --artifacts-dir demo/artifacts` (relative, as README shows) writes the snapshot;
    the report worker hands its kernel the absolute path: the snapshot must still be used."""
    import warnings

    from ztbkit.reports.locations import load_tree as notebook_load

    monkeypatch.chdir(demo_root.parent)
    relative = demo_root.name
    tree = load_artifacts(relative)
    snap = write_snapshot(tree, tmp_path / "s.parquet", relative)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SnapshotWarning)  # "ignored: it is of ..." would fail here
        path, seen = notebook_load(str(demo_root.resolve()), str(snap))
    assert path == str(demo_root.resolve())
    assert [s.session_id for s in seen.sessions] == [s.session_id for s in tree.sessions]
