"""ztb diff, ztb note and ztb tag, run as a user pastes them (/bin/sh -c, a clean environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, MakeTree, sh, write

from ztbkit.data.artifacts import load_artifacts
from ztbkit.data.notes import notes_path, read_annotations

ZTB = str(REPO / ".venv" / "bin" / "ztb")
GATES_A = {"gates": [{"name": "sharpe_min", "status": "pass"}, {"name": "memory_rss", "status": "fail"}]}
GATES_B = {"gates": [{"name": "sharpe_min", "status": "pass"}, {"name": "memory_rss", "status": "pass"},
                     {"name": "dsr_min", "status": "skip"}]}  # fmt: skip


def _env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}


def _tb(folder: Path, scalars: dict[str, list[tuple[int, float]]]) -> None:
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(folder))
    for tag, points in scalars.items():
        for step, value in points:
            w.add_scalar(tag, value, step)
    w.close()


@pytest.fixture
def pair(make_tree: MakeTree) -> Path:
    """Two hand-made sessions whose every difference is known."""
    root = make_tree({
        "run_a": {
            "summary.json": {"global_step": 1000, "rl_sharpe": 1.5, "dsr": 0.5},
            "metrics.json": {"wall_clock_duration": 3600},
            "run_metadata.json": {"correlation_id": "run_a", "payload": {"config": {
                "policy": "ppo", "learning_rate": 0.001, "n_steps": 2048, "only_a": "x"}}},
            "reports/gates.json": GATES_A,
            "reports/cost_estimate.json": {"total_cost_jpy": 1000.0, "gpu_hours": 1.0},
        },
        "run_b": {
            "summary.json": {"global_step": 3000, "rl_sharpe": 1.25, "dsr": 0.75},
            "metrics.json": {"wall_clock_duration": 7200},
            "run_metadata.json": {"correlation_id": "run_b", "payload": {"config": {
                "policy": "ppo", "learning_rate": 0.0003, "n_steps": 4096}}},
            "reports/gates.json": GATES_B,
            "reports/cost_estimate.json": {"total_cost_jpy": 2500.0, "gpu_hours": 2.0},
        },
    })  # fmt: skip
    _tb(root / "run_a" / "tb", {"train/loss": [(1, 1.0), (10, 0.5)], "only/a": [(1, 1.0)]})
    _tb(root / "run_b" / "tb", {"train/loss": [(1, 0.75), (20, 0.25)]})
    return root


def test_diff_json_is_exact_on_a_hand_made_pair(pair: Path, tmp_path: Path) -> None:
    r = sh(f"{ZTB} diff run_a run_b --artifacts-dir '{pair}' --json", _env(tmp_path), tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["a"] == "run_a" and d["b"] == "run_b"
    assert d["config"] == [
        {"key": "learning_rate", "a": 0.001, "b": 0.0003, "diff": pytest.approx(-0.0007)},
        {"key": "n_steps", "a": 2048, "b": 4096, "diff": 2048},
        {"key": "only_a", "a": "x", "b": None, "only": "a"},
    ]
    assert d["config_same"] == 1  # policy
    metrics = {m["key"]: m for m in d["metrics"]}
    assert metrics["global_step"] == {"key": "global_step", "a": 1000, "b": 3000, "diff": 2000}
    assert metrics["rl_sharpe"]["diff"] == pytest.approx(-0.25)
    assert metrics["dsr"]["diff"] == pytest.approx(0.25)
    assert set(metrics) == {"global_step", "rl_sharpe", "dsr"}  # nothing invented for absent metrics
    assert d["gates"] == [
        {"key": "verdict", "a": "fail", "b": "pass"},
        {"key": "sharpe_min", "a": "pass", "b": "pass"},
        {"key": "memory_rss", "a": "fail", "b": "pass"},
        {"key": "dsr_min", "a": None, "b": "skip"},
    ]
    assert d["cost"] == [
        {"key": "total_jpy", "a": 1000.0, "b": 2500.0, "diff": 1500.0},
        {"key": "gpu_hours", "a": 1.0, "b": 2.0, "diff": 1.0},
    ]
    assert d["duration"] == [{"key": "duration_seconds", "a": 3600.0, "b": 7200.0, "diff": 3600.0}]
    assert d["tensorboard"] == [{"key": "train/loss", "a": 0.5, "b": 0.25, "diff": -0.25}]
    assert d["tensorboard_only_a"] == 1 and d["tensorboard_only_b"] == 0


def test_diff_text_names_each_section(pair: Path, tmp_path: Path) -> None:
    r = sh(f"{ZTB} diff run_a run_b --artifacts-dir '{pair}'", _env(tmp_path), tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["A: run_a", "B: run_b"]
    assert "config (changed): 3; 1 equal" in lines
    assert any(ln.split() == ["n_steps", "2048", "4096", "+2,048"] for ln in lines)
    assert any(ln.split() == ["train/loss", "0.5", "0.25", "-0.25"] for ln in lines)


@pytest.mark.parametrize("args", ["run_a nope", "nope run_b", "run_a ../run_b", "run_a .ztb"])
def test_diff_of_a_missing_session_is_exit_2_naming_it(pair: Path, tmp_path: Path, args: str) -> None:
    r = sh(f"{ZTB} diff {args} --artifacts-dir '{pair}'", _env(tmp_path), tmp_path)
    bad = args.split()[1] if args.split()[0] == "run_a" else args.split()[0]
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and bad in r.stderr, r.stderr


def test_note_and_tag_are_kept_beside_the_sessions_and_shown(pair: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in pair.rglob("*") if p.is_file()}
    env = _env(tmp_path)
    r = sh(f"{ZTB} note run_b 'lr 3e-4: smoother loss' --artifacts-dir '{pair}'", env, tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("kept: note 1 on run_b"), r.stderr
    assert sh(f"{ZTB} tag run_b candidate --artifacts-dir '{pair}'", env, tmp_path).returncode == 0
    r = sh(f"{ZTB} tag run_a live --artifacts-dir '{pair}'", env, tmp_path)
    assert r.stdout == "kept: tagged run_a live\n"
    r = sh(f"{ZTB} tag run_b LIVE --artifacts-dir '{pair}'", env, tmp_path)
    assert r.stdout == "kept: tagged run_b live (live moved from run_a)\n"  # one live run at a time
    # The bot's files are untouched; ztbkit's file is beside them, and .ztb is not a session.
    assert {p: p.read_bytes() for p in before} == before
    assert notes_path(pair).is_file()
    tree = load_artifacts(pair)
    assert [s.session_id for s in tree.sessions] == ["run_a", "run_b"]
    b = tree.get("run_b")
    assert b is not None and b.tags == ("candidate", "live") and b.notes == ("lr 3e-4: smoother loss",)
    assert tree.get("run_a").tags == ()  # type: ignore[union-attr]
    assert list(tree.to_dataframe()["tags"]) == ["", "candidate,live"]
    # The diff shows them too.
    d = json.loads(
        sh(f"{ZTB} diff run_a run_b --artifacts-dir '{pair}' --json --no-tensorboard", env, tmp_path).stdout
    )
    assert d["tags"] == {"a": [], "b": ["candidate", "live"]} and "tensorboard" not in d
    assert sh(f"{ZTB} tag run_b candidate --remove --artifacts-dir '{pair}'", env, tmp_path).returncode == 0
    assert read_annotations(pair).tags("run_b") == ("live",)


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("tag run_a 'two words'", "TAG"),
        ("tag run_a ''", "TAG"),
        ("note run_a '   '", "TEXT"),
        ("tag nope live", "nope"),
        ("note 'a/b' hi", "ID"),
    ],
)
def test_bad_notes_and_tags_are_exit_2_and_write_nothing(pair: Path, tmp_path: Path, command: str,
                                                        named: str) -> None:  # fmt: skip
    r = sh(f"{ZTB} {command} --artifacts-dir '{pair}'", _env(tmp_path), tmp_path)
    assert r.returncode == 2 and named in r.stderr, r.stderr
    assert not notes_path(pair).exists()


def test_a_broken_notes_file_is_never_overwritten(pair: Path, tmp_path: Path) -> None:
    write(notes_path(pair), '{"sessions": {"run_a": {"notes": [{"text": "precious"}]}')  # cut short
    r = sh(f"{ZTB} note run_a more --artifacts-dir '{pair}'", _env(tmp_path), tmp_path)
    assert r.returncode == 2 and "notes.json" in r.stderr
    assert notes_path(pair).read_text(encoding="utf-8").endswith("}]}")  # unchanged
    tree = load_artifacts(pair)  # the reports still load, and say why the notes are missing
    assert any("notes.json" in p.path for p in tree.issues)


def test_racing_notes_all_survive(pair: Path) -> None:
    """Eight processes add notes to the same file at once, three times over: none is lost."""
    code = ("import sys; from datetime import datetime, UTC; from ztbkit.data.notes import add_note\n"
            "add_note(sys.argv[1], 'run_a', sys.argv[2], datetime.now(UTC))")  # fmt: skip
    for round_ in range(3):
        procs = [
            subprocess.Popen([sys.executable, "-c", code, str(pair), f"r{round_}-{i}"]) for i in range(8)
        ]
        assert all(p.wait(timeout=120) == 0 for p in procs)
    notes = read_annotations(pair).notes("run_a")
    assert sorted(notes) == sorted(f"r{r}-{i}" for r in range(3) for i in range(8))
    assert not [p for p in os.listdir(notes_path(pair).parent) if p.endswith(".tmp")]


def test_diff_note_and_tag_in_japanese_and_the_json_is_the_same_bytes(pair: Path, tmp_path: Path) -> None:
    """Under CI's ja_JP.EUC-JP locale (no --lang): section titles and the "kept" lines in Japanese, the
    row keys as the bot wrote them; ``--json`` byte for byte what English gives; errors one line."""
    ja = {**_env(tmp_path), "LANG": "ja_JP.EUC-JP", "LC_ALL": "ja_JP.EUC-JP"}
    r = sh(f"{ZTB} diff run_a run_b --artifacts-dir '{pair}'", ja, tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:2] == ["A: run_a", "B: run_b"] and "設定（変更あり）：3件（同じ値 1件）" in lines
    assert any(ln.startswith("指標：") and ln.endswith("件") for ln in lines) and "ゲート：4件" in lines
    assert any(ln.split() == ["n_steps", "2048", "4096", "+2,048"] for ln in lines)
    json_cmd = f"{ZTB} diff run_a run_b --json --artifacts-dir '{pair}'"
    assert sh(json_cmd, ja, tmp_path).stdout == sh(json_cmd, _env(tmp_path), tmp_path).stdout
    r = sh(f"{ZTB} note run_b 'vf_coef 0.5 で損失が滑らか' --artifacts-dir '{pair}'", ja, tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("保存しました：run_b のメモ 1件目"), r.stderr
    r = sh(f"{ZTB} tag run_a live --artifacts-dir '{pair}'", ja, tmp_path)
    assert r.stdout == "保存しました：run_a にタグ live を付けました\n"
    r = sh(f"{ZTB} tag run_b live --artifacts-dir '{pair}'", ja, tmp_path)
    assert r.stdout == "保存しました：run_b にタグ live を付けました（live タグを run_a から移しました）\n"
    r = sh(f"{ZTB} tag run_b live --remove --artifacts-dir '{pair}'", ja, tmp_path)
    assert r.stdout == "保存しました：run_b からタグ live を外しました\n"
    r = sh(f"{ZTB} diff run_a nope --artifacts-dir '{pair}'", ja, tmp_path)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert "B nope：セッションフォルダー" in r.stderr and "がありません" in r.stderr, r.stderr
