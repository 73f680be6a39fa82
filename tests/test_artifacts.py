from __future__ import annotations

import json
import math
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import MakeTree, write

from ztbkit import ArtifactsNotFoundError, load_artifacts
from ztbkit.core.values import parse_timestamp
from ztbkit.data.session import classify_run_metadata, load_session

NESTED = {
    "correlation_id": "s1",
    "timestamp": "2025-09-29T16:17:40.993410",
    "metadata": {"version": "1.0.0", "timestamp": "2025-09-29T12:00:00", "run_id": "s1", "type": "training"},
    "summary": {"global_step": 5000, "wall_clock_duration_hours": 2, "rss_peak_mb": 900, "vram_peak_mb": 4000,
                "best_sharpe": 1.25, "best_dsr": 0.5, "best_bootstrap_p_value": 0.04},
    "progress": {"steps_per_sec": 10.0, "eta": "100s", "completion_time": "2025-10-01T12:00:00", "pct": 0.1},
}  # fmt: skip


def issue_texts(session) -> list[str]:
    return [str(p) for p in session.issues]


def test_real_bot_fixture_loads(bot_fixtures: Path) -> None:
    tree = load_artifacts(bot_fixtures / "artifacts")
    assert [s.session_id for s in tree.sessions] == ["20250929T120000Z"]
    s = tree.sessions[0]
    assert s.issues == [] and tree.issues == []
    assert s.global_step == 0
    assert (s.rl_sharpe, s.dsr, s.p_value) == (None, None, None)  # nulls stay missing
    assert s.rss_peak_mb == 0 and s.memory_peak_mb == 0
    assert s.start_time is not None and s.start_time.isoformat() == "2025-09-29T16:17:40.993410+09:00"
    assert s.duration_seconds is None  # 0 hours is the bot's placeholder, not a duration
    assert s.status == "unknown" and s.on_disk and not s.in_index


def test_real_backtest_run_metadata_envelope(bot_fixtures: Path) -> None:
    folder = next((bot_fixtures / "results" / "backtest").iterdir()) / "artifacts"
    s = load_session(folder)
    assert s.run_metadata_shape == "backtest"
    assert s.run_metadata["payload"]["run_id"].startswith("backtest_sma_fast_slow")
    assert s.issues == []


def test_nested_summary_and_lookup_order(make_tree: MakeTree) -> None:
    root = make_tree({"s1": {"summary.json": NESTED}})
    s = load_artifacts(root).sessions[0]
    assert s.global_step == 5000 and s.rl_sharpe == 1.25 and s.dsr == 0.5 and s.p_value == 0.04
    assert s.rss_peak_mb == 900 and s.memory_peak_mb == 4000
    assert s.start_time == datetime.fromisoformat(
        "2025-09-29T12:00:00+09:00"
    )  # metadata.timestamp before timestamp
    assert s.eta == "2025-10-01T12:00:00"  # progress.completion_time before progress.eta
    assert s.steps_per_sec == 10.0
    assert (
        s.duration_seconds == 7200 and s.duration_source == "summary.json:summary.wall_clock_duration_hours"
    )


def test_newer_rollup_top_level_copy_wins_over_nested(make_tree: MakeTree) -> None:
    doc = {**NESTED, "global_step": 7000, "best_sharpe": 2.0}
    s = load_artifacts(make_tree({"s1": {"summary.json": doc}})).sessions[0]
    assert s.global_step == 7000 and s.rl_sharpe == 2.0


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"global_step": 1000, "rl_sharpe": 1.5, "dsr": 0.8, "p_value": 0.05}, (1000, 1.5, 0.8, 0.05, None, None)),
        ({"rl_sharpe": 1.5, "dsr": 0.8, "p_value": 0.05, "memory_peak": 1024, "rss_peak": 512},
         (None, 1.5, 0.8, 0.05, 512, 1024)),
    ],
)  # fmt: skip
def test_flat_summary_shapes(make_tree: MakeTree, doc: dict, expected: tuple) -> None:
    s = load_artifacts(make_tree({"s1": {"summary.json": doc}})).sessions[0]
    assert (s.global_step, s.rl_sharpe, s.dsr, s.p_value, s.rss_peak_mb, s.memory_peak_mb) == expected
    assert s.issues == []


def test_index_real_writer_shape_merges_with_folders(make_tree: MakeTree) -> None:
    index = {
        "generated_at": "2025-10-01T00:00:00", "latest": "b", "best": ["a"],
        "sessions": [
            {"correlation_id": "b", "created_at": "2025-09-30T10:00:00+00:00", "latest_step": 300, "status": "running"},
            {"correlation_id": "a", "created_at": "2025-09-29T10:00:00", "latest_step": 100, "status": "Stopped"},
            {"correlation_id": "ghost", "latest_step": 5, "status": "stopped"},
        ],
    }  # fmt: skip
    root = make_tree({"a": {"summary.json": {"rl_sharpe": 1.0}}, "b": {}, "disk_only": {}}, index=index)
    tree = load_artifacts(root)
    by_id = {s.session_id: s for s in tree.sessions}
    assert list(by_id) == ["a", "b", "disk_only", "ghost"]  # plain string order
    assert by_id["a"].global_step == 100 and by_id["a"].status == "stopped" and by_id["a"].is_best
    assert by_id["b"].start_time == datetime.fromisoformat("2025-09-30T10:00:00+00:00")
    assert by_id["b"].status == "running" and by_id["b"].in_index
    assert by_id["disk_only"].status == "unknown" and not by_id["disk_only"].in_index
    ghost = by_id["ghost"]
    assert ghost.status == "missing" and not ghost.on_disk and ghost.global_step == 5
    assert any("folder is missing" in t for t in issue_texts(ghost))


def test_index_dashboard_shape_and_bare_list(make_tree: MakeTree, tmp_path: Path) -> None:
    dash = {"sessions": [{"id": "x", "start_time": "2025-09-29T12:00:00Z", "latest_step": 42, "eta": "1h",
                          "status": "running"}]}  # fmt: skip
    s = load_artifacts(make_tree({"x": {}}, index=dash)).sessions[0]
    assert (s.global_step, s.eta, s.status) == (42, "1h", "running")
    assert s.start_time is not None and s.start_time.utcoffset() == timedelta(0)
    bare = make_tree({}, index=[{"id": "test123"}], root=tmp_path / "bare")
    tree = load_artifacts(bare)
    assert [(s.session_id, s.status) for s in tree.sessions] == [("test123", "missing")]


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ('{"sessions": [', "truncated JSON"),
        ({"foo": 1}, "unknown index shape"),
        ("42", "unknown index shape"),
        ({"sessions": ["oops", {"id": None}, {"id": "a"}, {"id": "a"}]}, "expected an object"),
    ],
)
def test_bad_index_is_reported_and_folders_still_load(
    make_tree: MakeTree, index: object, expected: str
) -> None:
    root = make_tree({"a": {"summary.json": {"global_step": 1}}}, index=index)
    tree = load_artifacts(root)
    assert tree.get("a") is not None and tree.get("a").global_step == 1  # type: ignore[union-attr]
    assert any(expected in str(p) and "index.json" in str(p) for p in tree.issues)


def test_wrong_types_are_missing_reported_and_fall_through(make_tree: MakeTree) -> None:
    doc = {"global_step": "abc", "summary": {"global_step": 12}, "rl_sharpe": [1], "best_sharpe": 0.7,
           "dsr": True, "p_value": "0.05", "rss_peak_mb": {"v": 1}}  # fmt: skip
    s = load_artifacts(make_tree({"s": {"summary.json": doc}})).sessions[0]
    assert s.global_step == 12 and s.rl_sharpe == 0.7  # next source in the lookup order
    assert s.dsr is None and s.p_value is None and s.rss_peak_mb is None
    texts = "\n".join(issue_texts(s))
    assert "summary.json: global_step: expected a number, got str 'abc'" in texts
    assert "rl_sharpe: expected a number, got list" in texts
    assert "dsr: expected a number, got bool" in texts
    assert "p_value: expected a number, got str '0.05'" in texts


def test_nan_and_infinity_are_missing_and_reported(make_tree: MakeTree) -> None:
    raw = '{"global_step": NaN, "rl_sharpe": Infinity, "dsr": -Infinity, "p_value": 0.01}'
    s = load_artifacts(make_tree({"s": {"summary.json": raw}})).sessions[0]
    assert s.global_step is None and s.rl_sharpe is None and s.dsr is None and s.p_value == 0.01
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in (s.global_step, s.rl_sharpe))
    assert sum("not a finite number" in t for t in issue_texts(s)) == 3


def test_global_step_must_be_whole_and_non_negative(make_tree: MakeTree) -> None:
    root = make_tree({"a": {"summary.json": {"global_step": 1000.0}}, "b": {"summary.json": {"global_step": 1.5}},
                      "c": {"summary.json": {"global_step": -3}}})  # fmt: skip
    a, b, c = load_artifacts(root).sessions
    assert a.global_step == 1000 and isinstance(a.global_step, int)
    assert b.global_step is None and "whole number" in issue_texts(b)[0]
    assert c.global_step is None and "non-negative" in issue_texts(c)[0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [('{"global_step": 10, "rl_sharpe"', "truncated JSON"), ("[1, 2, 3]", "expected a JSON object, got list"),
     ('"just a string"', "expected a JSON object, got str"), (b"\x00\xff\xfe", "not UTF-8")],
)  # fmt: skip
def test_broken_summary_is_one_issue_and_others_load(
    make_tree: MakeTree, content: object, reason: str
) -> None:
    root = make_tree(
        {"bad": {"summary.json": content}, "good": {"summary.json": {"global_step": 5, "dsr": 0.9}}}
    )
    tree = load_artifacts(root)
    bad, good = tree.sessions
    assert good.global_step == 5 and good.dsr == 0.9 and good.issues == []
    assert len(bad.issues) == 1
    assert bad.issues[0].path == os.path.join(str(root), "bad", "summary.json")
    assert reason in bad.issues[0].reason


def test_unreadable_files_are_reported_not_raised(make_tree: MakeTree) -> None:
    root = make_tree({"d": {}, "f": {}, "ok": {"summary.json": {"global_step": 3}}})
    (root / "d" / "summary.json").mkdir()  # a folder where the file belongs
    os.mkfifo(root / "f" / "metrics.json")  # a FIFO would block a naive open()
    tree = load_artifacts(root)
    d, f, ok = tree.sessions
    assert "is a folder" in issue_texts(d)[0]
    assert "not a regular file" in issue_texts(f)[0]
    assert ok.global_step == 3


def test_unicode_and_script_session_ids(make_tree: MakeTree) -> None:
    evil = "<script>alert(1)</script>"
    # ① exists in UTF-8 and cp932 file names but not in EUC-JP ones (a ja_JP.EUC-JP locale).
    jp = "学習_ラン①" if _fs_can_encode("①") else "学習_ラン１"
    index = {"sessions": [{"correlation_id": evil, "latest_step": 7}, {"correlation_id": jp}]}
    root = make_tree({jp: {"summary.json": {"rl_sharpe": 0.5}}, "évaluation": {}}, index=index)
    by_id = {s.session_id: s for s in load_artifacts(root).sessions}
    assert by_id[jp].rl_sharpe == 0.5 and by_id[jp].in_index
    assert by_id[evil].status == "missing" and by_id[evil].global_step == 7
    assert "évaluation" in by_id


def _fs_can_encode(text: str) -> bool:
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return False
    return True


def test_empty_and_missing_artifacts_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").mkdir()  # dot-folders are not sessions
    (tmp_path / "empty" / "trends.csv").write_text(
        "x", encoding="utf-8"
    )  # files at the root are not sessions
    assert load_artifacts(tmp_path / "empty").sessions == []
    with pytest.raises(ArtifactsNotFoundError, match="does not exist") as err:
        load_artifacts(tmp_path / "nope")
    assert isinstance(err.value, FileNotFoundError)
    with pytest.raises(ArtifactsNotFoundError, match="not a folder"):
        load_artifacts(tmp_path / "empty" / "trends.csv")


def test_fifty_megabyte_summary_loads_without_hanging(make_tree: MakeTree) -> None:
    root = make_tree({"huge": {}, "next": {"summary.json": {"global_step": 2}}})
    with open(root / "huge" / "summary.json", "w", encoding="utf-8") as fh:
        fh.write('{"global_step": 99, "pad": [')
        fh.write(",".join(['"' + "x" * 1000 + '"'] * 50_000))
        fh.write("]}")
    assert (root / "huge" / "summary.json").stat().st_size > 50_000_000
    tree = load_artifacts(root)
    assert tree.sessions[0].global_step == 99 and tree.sessions[1].global_step == 2


def test_file_over_the_size_limit_is_reported(make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch) -> None:
    from ztbkit.core import jsonread
    from ztbkit.data import session

    root = make_tree({"s": {"summary.json": {"pad": "x" * 5000}}})
    real = jsonread.read_json_if_exists
    monkeypatch.setattr(session, "_read_local", lambda path, **kw: real(path, max_bytes=1000))
    s = load_artifacts(root).sessions[0]
    assert "over the 1,000 bytes limit" in issue_texts(s)[0]


def test_kill_file_marks_session_stopped(make_tree: MakeTree) -> None:
    index = {"sessions": [{"correlation_id": "s", "status": "running"}]}
    s = load_artifacts(make_tree({"s": {"ztb.stop": ""}}, index=index)).sessions[0]
    assert s.stopped and s.status == "stopped"


@pytest.mark.parametrize(
    ("doc", "shape", "gpus", "seconds"),
    [
        ({"correlation_id": "s", "duration_seconds": 3600, "gpu_count": 2, "start_time": "2025-09-29T10:00:00"},
         "cost", 2, 3600.0),
        ({"system": {"os": "Linux"}, "packages": {}, "git": {}, "run_config": {}}, "environment", None, None),
        ({"correlation_id": "s", "timestamp": "t", "payload": {"run_id": "r", "type": "backtest", "gpu_count": 1,
          "duration_seconds": 60}}, "backtest", 1, 60.0),
        ({"correlation_id": "dummy", "system": {"os": "dummy"}}, "stub", None, None),
    ],
)  # fmt: skip
def test_run_metadata_four_shapes(make_tree: MakeTree, doc: dict, shape: str, gpus: int | None,
                                  seconds: float | None) -> None:  # fmt: skip
    s = load_artifacts(make_tree({"s": {"run_metadata.json": doc}})).sessions[0]
    assert s.run_metadata_shape == shape == classify_run_metadata(doc)
    assert s.gpu_count == gpus and s.duration_seconds == seconds
    assert s.issues == []


def test_run_metadata_unknown_shape_and_bad_gpu_count(make_tree: MakeTree) -> None:
    root = make_tree({"u": {"run_metadata.json": {"weird": 1}},
                      "g": {"run_metadata.json": {"gpu_count": "two", "duration_seconds": 10}}})  # fmt: skip
    g, u = load_artifacts(root).sessions
    assert u.run_metadata_shape == "unknown" and "unknown shape (keys: weird)" in issue_texts(u)[0]
    assert g.gpu_count is None and "gpu_count: expected a number" in issue_texts(g)[0]


def test_duration_fallbacks(make_tree: MakeTree) -> None:
    root = make_tree({
        "a": {"metrics.json": {"wall_clock_duration": 120, "rss_peaks": [10, 30, 20], "vram_peaks": [1, 2]}},
        "b": {"metrics.json": {"steps": 1000, "elapsed_time": 0}, "summary.json": {"global_step": 1000,
              "progress": {"steps_per_sec": 4.0}}},
        "c": {"run_metadata.json": {"duration_seconds": 0}, "metrics.json": {"elapsed_time": 50}},
    })  # fmt: skip
    a, b, c = load_artifacts(root).sessions
    assert a.duration_seconds == 120 and a.rss_peak_mb == 30 and a.memory_peak_mb == 2
    assert b.duration_seconds == 250 and b.duration_source == "global_step/steps_per_sec"
    assert c.duration_seconds == 50  # zero placeholders are skipped


def test_gates_both_shapes_in_sessions(make_tree: MakeTree) -> None:
    shape1 = {
        "gates": [
            {"name": "gate1", "status": "pass"},
            {"name": "gate2", "status": "FAIL", "error": "test error"},
        ]
    }
    shape2 = {"pass": False, "reasons": ["FAIL: memory_rss - RSS: 2.50GB (threshold: 2.00GB)"],
              "gate_results": {"memory_rss": {"status": "fail", "reason": "RSS: 2.50GB (threshold: 2.00GB)",
                                              "value": 2684354560, "threshold": 2147483648}}}  # fmt: skip
    root = make_tree({"a": {"reports/gates.json": shape1}, "b": {"reports/gates.json": shape2}, "c": {}})
    a, b, c = load_artifacts(root).sessions
    assert a.gate_verdict == "fail" and [g.name for g in a.gates.failures] == ["gate2"]  # type: ignore[union-attr]
    assert not a.gates.critical_failure  # type: ignore[union-attr]
    assert b.gate_verdict == "fail" and b.gates.critical_failure  # type: ignore[union-attr]
    assert c.gate_verdict == "none"


def test_cost_estimate_is_kept(make_tree: MakeTree) -> None:
    root = make_tree({"s": {"reports/cost_estimate.json": {"total_cost_jpy": 1000.0, "gpu_hours": 5.0}}})
    assert load_artifacts(root).sessions[0].cost_estimate == {"total_cost_jpy": 1000.0, "gpu_hours": 5.0}


def test_dataframe_has_one_typed_row_per_session(make_tree: MakeTree) -> None:
    root = make_tree({"a": {"summary.json": NESTED}, "b": {"summary.json": {"rl_sharpe": 0.1}}},
                     index=[{"id": "z", "latest_step": 9}])  # fmt: skip
    df = load_artifacts(root).to_dataframe()
    assert list(df["session_id"]) == ["a", "b", "z"]
    assert str(df["global_step"].dtype) == "Int64" and df.loc[0, "global_step"] == 5000
    assert df["global_step"].isna().tolist() == [False, True, False]
    assert str(df["start_time"].dt.tz) == "Asia/Tokyo"
    assert df.loc[2, "status"] == "missing" and not df.loc[2, "on_disk"]
    assert df["rl_sharpe"].dtype == "float64" and df.loc[1, "rl_sharpe"] == 0.1


def test_parse_timestamp_forms() -> None:
    assert parse_timestamp("2025-09-29T12:00:00Z").utcoffset() == timedelta(0)  # type: ignore[union-attr]
    assert parse_timestamp("2025-09-29T12:00:00").utcoffset() == timedelta(hours=9)  # type: ignore[union-attr]
    assert parse_timestamp("20250929T120000Z") == datetime.fromisoformat("2025-09-29T12:00:00+00:00")
    assert (
        parse_timestamp("yesterday") is None
        and parse_timestamp(None) is None
        and parse_timestamp(True) is None
    )
    assert parse_timestamp(0).year == 1970  # type: ignore[union-attr]


def test_start_time_falls_back_to_the_correlation_id(make_tree: MakeTree) -> None:
    s = load_artifacts(make_tree({"20250929T120000Z": {}})).sessions[0]
    assert s.start_time == datetime.fromisoformat("2025-09-29T12:00:00+00:00")


def test_bad_timestamp_is_reported(make_tree: MakeTree) -> None:
    s = load_artifacts(make_tree({"s": {"summary.json": {"timestamp": "not-a-date"}}})).sessions[0]
    assert s.start_time is None and "timestamp: not a timestamp" in issue_texts(s)[0]


def test_copied_real_fixture_beside_bad_sessions(bot_fixtures: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    shutil.copytree(bot_fixtures / "artifacts", root)
    write(root / "broken" / "summary.json", "{")
    write(
        root / "index.json",
        json.dumps({"sessions": [{"correlation_id": "20250929T120000Z", "status": "stopped"}]}),
    )
    tree = load_artifacts(root)
    assert [s.session_id for s in tree.sessions] == ["20250929T120000Z", "broken"]
    assert tree.sessions[0].status == "stopped" and tree.sessions[0].issues == []


def test_issue_paths_with_a_relative_artifacts_dir(
    make_tree: MakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_tree(
        {"s": {"summary.json": "{", "reports/gates.json": "[", "metrics.json": {"rss_peaks": "x"}}}
    )
    monkeypatch.chdir(root.parent)
    s = load_artifacts("artifacts").sessions[0]
    assert sorted(p.path for p in s.issues) == [
        os.path.join("artifacts", "s", "metrics.json"),
        os.path.join("artifacts", "s", "reports", "gates.json"),
        os.path.join("artifacts", "s", "summary.json"),
    ]


def test_index_entry_problems_name_the_root_index(make_tree: MakeTree) -> None:
    root = make_tree({"s": {}}, index={"sessions": [{"correlation_id": "s", "latest_step": "abc"}]})
    [problem] = load_artifacts(root).sessions[0].issues
    assert problem.path == os.path.join(str(root), "index.json") and problem.reason.startswith("latest_step:")


# FORMATS.md "Lookup order (first present, non-null wins)", written out here as the independent oracle
# (not ztbkit.artifacts.LOOKUP): (file, dotted key, raw value, expected field value). The last
# global_step and start-time rows are the loader's documented further fallbacks (metrics.json,
# run_metadata.json cost inputs).
def _ts(day: int) -> str:
    return f"2025-01-0{day}T0{day}:00:00+00:00"


LOOKUP_ORDER = {
    "global_step": [("summary.json", "global_step", 101, 101), ("summary.json", "summary.global_step", 202, 202),
                    ("index.json", "latest_step", 303, 303), ("metrics.json", "global_step", 404, 404)],
    "rl_sharpe": [("summary.json", "rl_sharpe", 1.1, 1.1), ("summary.json", "best_sharpe", 2.2, 2.2),
                  ("summary.json", "summary.best_sharpe", 3.3, 3.3)],
    "dsr": [("summary.json", "dsr", 0.11, 0.11), ("summary.json", "best_dsr", 0.22, 0.22),
            ("summary.json", "summary.best_dsr", 0.33, 0.33)],
    "p_value": [("summary.json", "p_value", 0.011, 0.011),
                ("summary.json", "best_bootstrap_p_value", 0.022, 0.022),
                ("summary.json", "summary.best_bootstrap_p_value", 0.033, 0.033)],
    "rss_peak_mb": [("summary.json", "rss_peak_mb", 111, 111), ("summary.json", "rss_peak", 222, 222),
                    ("summary.json", "summary.rss_peak_mb", 333, 333)],
    "memory_peak_mb": [("summary.json", "vram_peak_mb", 1111, 1111), ("summary.json", "memory_peak", 2222, 2222),
                       ("summary.json", "summary.vram_peak_mb", 3333, 3333)],
    "start_time": [(f, k, _ts(i + 1), datetime.fromisoformat(_ts(i + 1))) for i, (f, k) in enumerate([
        ("index.json", "start_time"), ("index.json", "created_at"), ("summary.json", "metadata.timestamp"),
        ("summary.json", "timestamp"), ("run_metadata.json", "start_time")])],
    "eta": [("index.json", "eta", "1h", "1h"), ("summary.json", "progress.completion_time",
             "2025-10-01T12:00:00", "2025-10-01T12:00:00"), ("summary.json", "progress.eta", "100s", "100s")],
}  # fmt: skip


@pytest.mark.parametrize("field", sorted(LOOKUP_ORDER))
def test_lookup_order_first_present_source_wins(tmp_path: Path, field: str) -> None:
    """Every source present with a distinct value: the first wins; remove it, the next one wins, ..."""
    sources = LOOKUP_ORDER[field]
    for skip in range(len(sources) + 1):
        docs: dict[str, dict] = {}
        for file, key, raw, _ in sources[skip:]:
            *parents, leaf = key.split(".")
            node = docs.setdefault(file, {})
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = raw
        folder = tmp_path / f"run{skip}" / "session-x"  # not a timestamp id: no start-time fallback
        folder.mkdir(parents=True)
        for file, doc in docs.items():
            if file != "index.json":
                write(folder / file, doc)
        s = load_session(folder, docs.get("index.json", {}))
        expected = sources[skip][3] if skip < len(sources) else None
        assert getattr(s, field) == expected, (field, sources[skip - 1 : skip + 1])
        assert s.issues == []


def _session(tmp_path: Path, summary: dict | None = None, entry: dict | None = None, rm: dict | None = None,
             tz: object = None, kill: bool = False) -> tuple[object, list[str]]:  # fmt: skip
    folder = tmp_path / "sess"
    folder.mkdir(parents=True)
    if summary is not None:
        write(folder / "summary.json", summary)
    if rm is not None:
        write(folder / "run_metadata.json", rm)
    if kill:
        write(folder / "ztb.stop", "")
    s = load_session(folder, entry, tz=tz)  # type: ignore[arg-type]
    return s, [str(p).replace(str(tmp_path), "T") for p in s.issues]


def test_a_bad_source_is_reported_and_the_next_one_used(tmp_path: Path) -> None:
    s, issues = _session(tmp_path, {"vram_peak_mb": "x", "memory_peak": 5, "rl_sharpe": "y", "best_sharpe": 2.0,
                                    "global_step": 0})  # fmt: skip
    assert (s.memory_peak_mb, s.rl_sharpe, s.global_step) == (5, 2.0, 0)  # type: ignore[attr-defined]
    assert issues == ["T/sess/summary.json: rl_sharpe: expected a number, got str 'y'",
                      "T/sess/summary.json: vram_peak_mb: expected a number, got str 'x'"]  # fmt: skip


def test_start_time_zone_and_a_bad_timestamp(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    s, _ = _session(tmp_path, {"timestamp": "2025-01-01T09:00:00"}, tz=ZoneInfo("UTC"))
    assert s.start_time == datetime.fromisoformat("2025-01-01T09:00:00+00:00")  # type: ignore[attr-defined]
    s, issues = _session(
        tmp_path / "b", {"metadata": {"timestamp": "garbage"}, "timestamp": "2025-01-01T09:00:00"}
    )
    assert s.start_time == datetime.fromisoformat("2025-01-01T09:00:00+09:00")  # type: ignore[attr-defined]
    assert issues == ["T/sess/summary.json: metadata.timestamp: not a timestamp: str 'garbage'"]


def test_eta_forms_fall_through_and_the_rest_is_still_filled(tmp_path: Path) -> None:
    s, issues = _session(tmp_path / "a", {"progress": {"completion_time": 5, "eta": "x"}},
                         entry={"eta": True, "status": "running"}, rm={"duration_seconds": 60})  # fmt: skip
    assert (s.eta, s.duration_seconds, s.status) == ("5s", 60.0, "running")  # type: ignore[attr-defined]
    assert issues == ["T/index.json: eta: expected text or seconds, got bool True"]
    s, issues = _session(
        tmp_path / "b", {"progress": {"completion_time": "  ", "eta": 1.5}}, entry={"eta": []}
    )
    assert s.eta == "1.5s"  # type: ignore[attr-defined]
    assert issues == ["T/index.json: eta: expected text or seconds, got list []",
                      "T/sess/summary.json: progress.completion_time: expected text or seconds, got str '  '"]  # fmt: skip
    s, issues = _session(tmp_path / "c", {"progress": {"eta": float("nan")}}, entry={"eta": 3600})
    assert (s.eta, issues) == ("3600s", [])  # type: ignore[attr-defined]


def test_status_and_duration_problems_and_the_kill_file(tmp_path: Path) -> None:
    s, issues = _session(tmp_path / "a", {}, entry={"status": 5}, rm={"duration_seconds": "x"})
    assert (s.status, s.duration_seconds) == ("unknown", None)  # type: ignore[attr-defined]
    assert issues == ["T/sess/run_metadata.json: duration_seconds: expected a number, got str 'x'",
                      "T/index.json: status: expected text, got int 5"]  # fmt: skip
    assert _session(tmp_path / "b", {}, kill=True)[0].status == "stopped"  # type: ignore[attr-defined]
    assert _session(tmp_path / "c", {}, entry={"status": " Running"}, kill=True)[0].status == "stopped"  # type: ignore[attr-defined]
    assert _session(tmp_path / "d", {}, entry={"status": "Done "}, kill=True)[0].status == "done"  # type: ignore[attr-defined]


def test_a_count_past_64_bits_does_not_break_the_dataframe(make_tree: MakeTree) -> None:
    """README's ``tree.to_dataframe()``: one session with global_step 2**70 raised OverflowError (an
    Int64 column cannot hold it), losing every session. That cell is NA; the others are kept."""
    root = make_tree({
        "a": {"summary.json": {"global_step": 2**70}, "run_metadata.json": {"gpu_count": 2**64}},
        "b": {"summary.json": {"global_step": 5}, "run_metadata.json": {"gpu_count": 2}},
    })  # fmt: skip
    df = load_artifacts(root).to_dataframe().set_index("session_id")
    assert str(df["global_step"].dtype) == "Int64" and str(df["gpu_count"].dtype) == "Int64"
    assert df.loc["b", "global_step"] == 5 and df.loc["b", "gpu_count"] == 2
    assert df["global_step"].isna().tolist() == [True, False] and df["gpu_count"].isna().tolist() == [
        True,
        False,
    ]


def test_an_integer_too_large_for_a_float_is_a_warning_not_a_crash(make_tree: MakeTree) -> None:
    """A 400-digit global_step is valid JSON and passes the int-digits limit, but no float holds it:
    dividing it by steps/sec raised OverflowError while loading, so ztb trends, cost and budget all
    died for every session. It is reported naming the file and key; the other session is kept."""
    huge = "1" + "0" * 400
    root = make_tree({
        "big": {"summary.json": '{"global_step": ' + huge + ', "progress": {"steps_per_sec": 10}}'},
        "ok": {"summary.json": {"global_step": 7}},
    })  # fmt: skip
    tree = load_artifacts(root)
    big, ok = sorted(tree.sessions, key=lambda s: s.session_id)
    assert big.global_step is None and ok.global_step == 7
    assert any(
        "summary.json: global_step: int 1000000" in t and "too large" in t for t in issue_texts(big)
    ), issue_texts(big)


def test_a_negative_step_count_or_rate_is_reported_not_used(make_tree: MakeTree) -> None:
    """metrics.json steps -1e6 over 100 s gave steps/sec -10000, shown in the cost report as
    'measured'; a negative progress.steps_per_sec was dropped without a word."""
    root = make_tree({
        "m": {"metrics.json": {"steps": -1_000_000, "elapsed_time": 100}},
        "p": {"summary.json": {"progress": {"steps_per_sec": -5}}},
    })  # fmt: skip
    m, p = sorted(load_artifacts(root).sessions, key=lambda s: s.session_id)
    assert m.steps_per_sec is None and p.steps_per_sec is None
    assert any(
        "metrics.json: steps: expected a non-negative number, got -1000000" in t for t in issue_texts(m)
    )
    assert any(
        "summary.json: progress.steps_per_sec: expected a positive number, got -5" in t
        for t in issue_texts(p)
    )
