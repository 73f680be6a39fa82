"""#25 case 6: tb-scrape's cache lives with ztbkit's own state, never in the bot's TensorBoard folder."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import BOT_FIXTURES, sh

from ztbkit.data.tbcache import LEGACY_NAME, default_cache_path
from ztbkit.data.tensorboard import scrape

EVENTS = sorted((BOT_FIXTURES / "tensorboard" / "evaluation").glob("events.out.tfevents.*"))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "eval"
    run.mkdir(parents=True)
    for f in EVENTS:
        shutil.copy(f, run / f.name)
    return tmp_path / "runs"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)
    return {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8",
            "XDG_CACHE_HOME": str(tmp_path / "xdg"), **extra}  # fmt: skip


def names(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_the_documented_command_leaves_the_run_folder_as_it_was(tmp_path: Path, runs: Path) -> None:
    before = names(runs)
    first = sh("ztb tb-scrape --run-dir runs --output out.json", env_for(tmp_path), tmp_path)
    assert first.returncode == 0, first.stderr
    assert names(runs) == before  # nothing added to the bot's folder (a sync would upload it)
    cache = tmp_path / "xdg" / "ztbkit" / "tb"
    assert len(list(cache.iterdir())) == 1
    again = sh("ztb tb-scrape --run-dir runs --output out.json", env_for(tmp_path), tmp_path)
    assert f"read 0 file(s) whole, 0 incrementally, {len(EVENTS)} unchanged" in again.stdout, again.stdout
    # The same folder by another spelling is the same cache (keyed by the real path).
    third = sh(f"ztb tb-scrape --run-dir {runs}/../runs --output out.json", env_for(tmp_path), tmp_path)
    assert f"{len(EVENTS)} unchanged" in third.stdout and len(list(cache.iterdir())) == 1


def test_an_old_cache_in_the_run_folder_is_read_once_then_removed(tmp_path: Path, runs: Path) -> None:
    scrape(runs, cache=runs / LEGACY_NAME)  # what earlier versions left there
    done = sh("ztb tb-scrape --run-dir runs --output out.json", env_for(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{len(EVENTS)} unchanged" in done.stdout, done.stdout  # it was read: nothing parsed again
    assert not (runs / LEGACY_NAME).exists()
    assert (tmp_path / "xdg" / "ztbkit" / "tb").is_dir()


@pytest.mark.parametrize("kind", ["user-json", "other-text", "symlink"])
def test_a_file_of_that_name_ztbkit_did_not_write_is_left_alone(
    tmp_path: Path, runs: Path, kind: str
) -> None:
    legacy = runs / LEGACY_NAME
    if kind == "user-json":
        legacy.write_text(json.dumps({"version": 1, "notes": "mine"}), encoding="utf-8")
    elif kind == "other-text":
        legacy.write_bytes(b"not json at all\n")
    else:
        target = tmp_path / "precious.json"
        target.write_text(json.dumps({"version": 1, "tags": None, "files": {}}), encoding="utf-8")
        legacy.symlink_to(target)
    before = legacy.read_bytes()
    done = sh("ztb tb-scrape --run-dir runs --output out.json", env_for(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert legacy.is_symlink() if kind == "symlink" else legacy.is_file()
    assert legacy.read_bytes() == before


def test_no_cache_env_keeps_no_cache_anywhere(tmp_path: Path, runs: Path) -> None:
    done = sh("ztb tb-scrape --run-dir runs --output out.json", env_for(tmp_path, ZTB_NO_CACHE="1"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "xdg").exists() and LEGACY_NAME not in os.listdir(runs)


def test_the_cache_key_is_the_real_path(tmp_path: Path, runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    (tmp_path / "link").symlink_to(runs, target_is_directory=True)
    assert default_cache_path(tmp_path / "link") == default_cache_path(runs)
    assert default_cache_path(runs).parent == tmp_path / "x" / "ztbkit" / "tb"
    assert default_cache_path(runs) != default_cache_path(tmp_path)
