"""#25 case 3: one folder entry that cannot be listed or followed is a warning naming it; every other
session still reports (a symlink loop stopped trends, budget, dashboard and nightly: exit 2, nothing)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import sh

from ztbkit.analysis.leaderboard import trials_adjusted
from ztbkit.data import artifacts
from ztbkit.data.artifacts import load_artifacts
from ztbkit.data.tensorboard import scrape

SESSIONS = 36


@pytest.fixture(scope="module")
def demo_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("demo")
    done = subprocess.run([sys.executable, "-m", "ztbkit", "demo", "--out-dir", str(base), "--sessions",
                           str(SESSIONS)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return base / "artifacts"


def env_for(tmp_path: Path) -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)
    return {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
            "XDG_CACHE_HOME": str(tmp_path / "xdg"), "ZTB_SCHEDULED_FOR": ""}  # fmt: skip


@pytest.fixture
def looped(tmp_path: Path, demo_tree: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(demo_tree, work / "artifacts", symlinks=True)
    (work / "artifacts" / "loop").symlink_to("loop")  # ln -s loop artifacts/loop
    (work / "artifacts" / "ab").symlink_to("ba")  # a loop of two
    (work / "artifacts" / "ba").symlink_to("ab")
    return work


@pytest.mark.parametrize(
    "command",
    ["ztb trends --out out/trends.csv", "ztb budget --out out/budget.md",
     "ztb nightly --skip-notebooks --out-dir out --date 2025-10-01", "ztb dashboard --out out/d.html"],
    ids=["trends", "budget", "nightly", "dashboard"],
)  # fmt: skip
def test_a_symlink_loop_is_a_warning_and_every_other_session_reports(looped: Path, command: str) -> None:
    done = sh(command, env_for(looped), looped)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "ztb: error" not in done.stderr
    shown = done.stderr
    if command.startswith("ztb dashboard"):  # the page shows the tree's warnings, and every session
        import html

        shown = html.unescape((looped / "out" / "d.html").read_text(encoding="utf-8"))
        on_disk = [p.name for p in (looped / "artifacts").iterdir() if p.name.startswith("20") and p.is_dir()]
        assert len(on_disk) == SESSIONS and all(sid in shown for sid in on_disk)
    assert "artifacts/loop: cannot follow this folder entry: Too many levels of symbolic links" in shown, (
        shown[-2000:]
    )
    if command.startswith("ztb trends"):
        rows = list(csv.DictReader((looped / "out" / "trends.csv").open(encoding="utf-8")))
        assert len(rows) == SESSIONS
    if command.startswith("ztb nightly"):
        rows = list(csv.DictReader((looped / "out" / "2025-10-01" / "trends.csv").open(encoding="utf-8")))
        assert len(rows) == SESSIONS


def _as_nobody() -> list[str]:
    """Run as an unprivileged user: root reads everything, so permission denied needs another user."""
    if os.geteuid() != 0:
        return []
    assert shutil.which("setpriv"), "setpriv (util-linux) is needed to test permission denied as root"
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_a_folder_entry_without_permission_is_a_warning_naming_it(tmp_path: Path, demo_tree: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(demo_tree, work / "artifacts")
    secret = tmp_path / "secret"
    (secret / "inner").mkdir(parents=True)
    (work / "artifacts" / "behind").symlink_to(secret / "inner")  # its target's folder is closed to us
    for p in [tmp_path, work, *work.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o777 if p.is_dir() else 0o666)
    secret.chmod(0o700)
    done = subprocess.run([*_as_nobody(), sys.executable, "-m", "ztbkit", "trends", "--out", "t.csv"], cwd=work,
                          capture_output=True, text=True, timeout=300, env=env_for(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "artifacts/behind: cannot follow this folder entry: Permission denied" in done.stderr, done.stderr
    assert f"({SESSIONS} sessions" in done.stdout


def test_a_session_folder_gone_between_the_listing_and_its_load_still_leaves_the_others(
    tmp_path: Path, demo_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "artifacts"
    shutil.copytree(demo_tree, root)
    listed = artifacts._session_folders

    def listing_then_removal(folder: str, issues: list) -> list[str]:  # type: ignore[type-arg]
        names = listed(folder, issues)
        shutil.rmtree(os.path.join(folder, names[3]))  # another program deletes one meanwhile
        return names

    baseline = load_artifacts(root)
    monkeypatch.setattr(artifacts, "_session_folders", listing_then_removal)
    tree = load_artifacts(root)
    assert [s.session_id for s in tree.sessions] == [s.session_id for s in baseline.sessions]
    changed = [
        a.session_id
        for a, b in zip(tree.sessions, baseline.sessions, strict=True)
        if a.global_step != b.global_step
    ]
    assert len(changed) <= 1  # only the one that vanished lost its numbers


def test_tensorboard_and_leaderboard_scans_name_a_folder_they_cannot_list(
    tmp_path: Path, demo_tree: Path
) -> None:
    """find_runs (tb-scrape) and the leaderboard's eval_*.json scan used to skip such a folder silently."""
    code = """
from pathlib import Path
from ztbkit.data.tensorboard import scrape
from ztbkit.analysis.leaderboard import trials_adjusted
from ztbkit.data.artifacts import load_artifacts
print("\\n".join(str(p) for p in scrape(Path("runs")).problems))
print("\\n".join(trials_adjusted(load_artifacts(Path("art")).sessions).notes))
"""
    (tmp_path / "runs" / "closed").mkdir(parents=True)
    shutil.copytree(demo_tree, tmp_path / "art")
    sid = sorted(p.name for p in (tmp_path / "art").iterdir() if p.is_dir())[0]
    for p in [tmp_path, *tmp_path.rglob("*")]:
        p.chmod(0o777 if p.is_dir() else 0o666)
    (tmp_path / "runs" / "closed").chmod(0)
    (tmp_path / "art" / sid).chmod(0o311)  # can enter, cannot list
    done = subprocess.run([*_as_nobody(), sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300, env=env_for(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "runs/closed: cannot list this folder: Permission denied" in done.stdout, done.stdout
    assert f"cannot list art/{sid}: Permission denied" in done.stdout, done.stdout
    assert scrape and trials_adjusted  # imported here too: the same code the child ran
