from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MakeTree

from ztbkit.cli import cli

COMMANDS = [
    "demo",
    "trends",
    "trends-md",
    "nightly",
    "cost",
    "budget",
    "dashboard",
    "report",
    "gates-alert",
    "live-status",
    "notify",
]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0 and "Examples:" in out and f"ztb {command}" in out


def test_entry_points_run_as_processes() -> None:
    mod = subprocess.run(
        [sys.executable, "-m", "ztbkit", "--version"],
        capture_output=True,
        text=True,
        check=True,
        encoding="utf-8",
    )
    assert mod.stdout.strip() == "ztb, version 0.1.0"
    script = Path(sys.executable).parent / "ztb"
    out = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=True, encoding="utf-8"
    ).stdout
    assert all(c in out for c in COMMANDS)


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from ztbkit.cli import main; "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'papermill') if m in sys.modules))"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8"
        ).stdout.strip()
        == "[]"
    )


def test_missing_artifacts_dir_is_exit_2_naming_the_flag(tmp_path: Path) -> None:
    code, out, err = run("trends", "--artifacts-dir", str(tmp_path / "nope"))
    assert code == 2 and out == ""
    assert (
        err.strip()
        == f"ztb: error: artifacts folder '{tmp_path / 'nope'}' does not exist (set it with --artifacts-dir)"
    )
    assert "Traceback" not in err


def test_trends_writes_default_csv_and_warns_by_file(make_tree: MakeTree) -> None:
    root = make_tree({"a": {"summary.json": "{"}, "b": {"summary.json": {"global_step": 3}}})
    code, out, err = run("trends", "--artifacts-dir", str(root))
    assert code == 0
    assert (root / "trends.csv").read_text(encoding="utf-8").splitlines()[1:] == ["a,,,,", "b,3,,,"]
    assert f"warning: {root / 'a' / 'summary.json'}: truncated JSON" in err
    assert f"wrote {root / 'trends.csv'} (2 sessions, 1 warnings)" in out


def test_trends_strict_exits_1_and_warnings_are_capped(make_tree: MakeTree) -> None:
    root = make_tree({f"s{i:02d}": {"summary.json": "[1]"} for i in range(15)})
    code, _, err = run("trends", "--artifacts-dir", str(root), "--strict")
    assert code == 1
    assert err.count("warning: ") == 11 and "... and 5 more (use -v to list all)" in err
    code, _, err = run("trends", "--artifacts-dir", str(root), "-v")
    assert code == 0 and err.count("warning: ") == 15


def test_trends_md_round_trip_and_missing_csv(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"a": {"summary.json": {"rl_sharpe": 1.0}}, "b": {"summary.json": {"rl_sharpe": 2.0}}})
    run("trends", "--artifacts-dir", str(root), "--out", str(tmp_path / "t.csv"))
    code, out, _ = run("trends-md", "--csv", str(tmp_path / "t.csv"), "--out", str(tmp_path / "md" / "t.md"))
    assert code == 0 and "(2 sessions)" in out
    assert "| b | 2.0000 |" in (tmp_path / "md" / "t.md").read_text(encoding="utf-8")
    code, _, err = run("trends-md", "--csv", str(tmp_path / "none.csv"))
    assert code == 2 and "none.csv: trends CSV not found" in err


def test_bad_flag_value_is_exit_2() -> None:
    code, _, err = run("demo", "--sessions", "0")
    assert code == 2 and "--sessions" in err


def test_nightly_writes_dated_outputs(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"a": {"summary.json": {"global_step": 1}}})
    code, out, _ = run(
        "nightly",
        "--skip-notebooks",
        "--artifacts-dir",
        str(root),
        "--out-dir",
        str(tmp_path / "o"),
        "--date",
        "2025-10-31",
    )
    assert code == 0
    day = tmp_path / "o" / "2025-10-31"
    assert (day / "trends.csv").is_file() and (day / "trends_table.md").read_text(
        encoding="utf-8"
    ).startswith("# Trend Report")
    assert out.splitlines() == [
        f"ok     trends.csv   {day / 'trends.csv'}  (1 sessions)",
        f"ok     trends-md    {day / 'trends_table.md'}  (1 sessions)",
        f"ok     budget.md    {day / 'budget_daily.md'}  (1 day(s), 1 run(s), 1 not estimated, total ¥0)",
        f"ok     index        {tmp_path / 'o' / 'index.html'}  (first night: nothing to compare with yet)",
    ]


def test_nightly_uses_scheduled_slot_date(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"a": {}})
    env = {"ZTB_SCHEDULED_FOR": "2025-10-30T17:00:00+00:00"}  # 02:00 on the 31st in Tokyo
    code, _, _ = run(
        "nightly", "--skip-notebooks", "--artifacts-dir", str(root), "--out-dir", str(tmp_path / "o"), env=env
    )
    assert code == 0 and (tmp_path / "o" / "2025-10-31" / "trends.csv").is_file()
    code, _, err = run(
        "nightly", "--skip-notebooks", "--artifacts-dir", str(root), env={"ZTB_SCHEDULED_FOR": "soon"}
    )
    assert code == 2 and "ZTB_SCHEDULED_FOR: 'soon' is not a date" in err


def test_nightly_failed_step_does_not_stop_the_next(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"a": {}})
    day = tmp_path / "o" / "2025-10-31"
    (day / "trends_table.md").mkdir(parents=True)  # something in the way of the Markdown report
    code, out, _ = run(
        "nightly",
        "--skip-notebooks",
        "--artifacts-dir",
        str(root),
        "--out-dir",
        str(tmp_path / "o"),
        "--date",
        "2025-10-31",
    )
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("ok     trends.csv") and lines[1].startswith("failed trends-md")
    assert (day / "trends.csv").is_file()


def test_demo_command(tmp_path: Path) -> None:
    code, out, _ = run("demo", "--out-dir", str(tmp_path / "d"), "--sessions", "8")
    assert code == 0 and f"demo artifacts: {tmp_path / 'd' / 'artifacts'} (8 sessions)" in out
    os.mkdir(tmp_path / "real")
    (tmp_path / "real" / "artifacts").mkdir()
    (tmp_path / "real" / "artifacts" / "x").mkdir()
    code, _, err = run("demo", "--out-dir", str(tmp_path / "real"))
    assert code == 2 and "--out-dir" in err and "refusing to replace" in err


@pytest.mark.parametrize("command", ["trends", "nightly"])
def test_relative_artifacts_dir_from_another_folder_names_where_it_looked(
    tmp_path: Path, command: str
) -> None:
    """README's `--artifacts-dir demo/artifacts` pasted in a shell that is not in the checkout: the one
    line says which folder the relative path was taken from, so the user sees why it is not found."""
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    proc = subprocess.run(
        ["/bin/sh", "-c", f'"{sys.executable}" -m ztbkit {command} --artifacts-dir demo/artifacts --out-dir out'
         if command == "nightly" else f'"{sys.executable}" -m ztbkit {command} --artifacts-dir demo/artifacts'],
        cwd=elsewhere, capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
             **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}, encoding="utf-8"
    )  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "'demo/artifacts'" in lines[0] and str(elsewhere.resolve()) in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
