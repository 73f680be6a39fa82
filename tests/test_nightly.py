"""ztb nightly: every step writes its own file into outputs/<date>/; no step overwrites another's."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import REPO, MakeTree, sh

ZTB = Path(sys.executable).with_name("ztb")


def test_nightly_writes_every_step_to_its_own_file(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({
        "s1": {"run_metadata.json": {"duration_seconds": 3600, "gpu_count": 1, "start_time": "2025-10-30T12:00:00"},
               "summary.json": {"global_step": 5000, "rl_sharpe": 1.25}},
        "s2": {"run_metadata.json": {"duration_seconds": 7200, "gpu_count": 1, "start_time": "2025-10-29T09:00:00"},
               "summary.json": {"global_step": 9000, "rl_sharpe": 0.5}},
    })  # fmt: skip
    out = tmp_path / "outputs"
    # The documented command, pasted into a shell with a clean environment.
    cmd = f"{shlex.quote(str(ZTB))} nightly --artifacts-dir {shlex.quote(str(root))} --out-dir {shlex.quote(str(out))} --date 2025-10-31"  # noqa: E501
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    r = sh(cmd, env, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    day = out / "2025-10-31"

    # One line per step; each names a file that exists, and no two steps name the same file.
    lines = r.stdout.splitlines()
    steps = {ln.split()[1]: Path(ln.split()[2]) for ln in lines}
    assert list(steps) == ["trends.csv", "trends-md", "budget.md", "dashboard.html", "trends.html",
                           "budget.html", "cost.html", "compare.html", "index"]  # fmt: skip
    assert steps.pop("index") == out / "index.html"  # the night-over-night index, beside the nights
    assert len(set(steps.values())) == len(steps)
    assert all(p.is_file() and p.parent == day for p in steps.values())

    # The folder holds exactly these files (every notebook also keeps .md, figures and .ipynb).
    names = {p.name for p in day.iterdir() if p.is_file()}
    expected = {"trends.csv", "trends_table.md", "budget_daily.md", "night.json"} | {
        f"{n}.{ext}"
        for n in ("dashboard", "trends", "budget", "cost", "compare")
        for ext in ("html", "md", "ipynb")
    }
    assert names == expected
    digests = {hashlib.sha256((day / n).read_bytes()).hexdigest() for n in names}
    assert len(digests) == len(names)  # distinct contents too: nothing written twice

    # The trends-md table (FORMATS: `# Trend Report`, rows `| <session_id> |`, sparklines) survives the
    # trends notebook's own Markdown export beside it.
    table = (day / "trends_table.md").read_text(encoding="utf-8")
    assert table.startswith("# Trend Report") and "| s1 |" in table and "| s2 |" in table
    assert "▁" in table and "█" in table
    report = (day / "trends.md").read_text(encoding="utf-8")
    assert report != table and "trends_files/" in report  # the notebook export, with its figures
    assert (day / "trends_files").is_dir()


def test_relative_artifacts_dir_from_the_cli_is_the_callers_folder(
    make_tree: MakeTree, tmp_path: Path
) -> None:
    """`--artifacts-dir demo/artifacts` means the shell's folder, even though notebooks resolve their own
    relative paths against the project root."""
    make_tree({"a": {"summary.json": {"global_step": 1}}}, root=tmp_path / "here" / "arts")
    env = {**os.environ, "ZTB_ROOT": str(REPO)}
    args = [str(ZTB), "report", "trends", "--artifacts-dir", "arts", "--out-dir", "o", "--date", "2025-10-31"]
    r = subprocess.run(
        args, cwd=tmp_path / "here", env=env, capture_output=True, text=True, timeout=600, encoding="utf-8"
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 sessions in " + str(tmp_path / "here" / "arts") in (
        tmp_path / "here" / "o" / "2025-10-31" / "trends.md"
    ).read_text(encoding="utf-8")
