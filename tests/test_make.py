"""The Makefile's newcomer promises: `make test` says what to install, in one line, before it starts;
`make lab` builds what the notebooks default to and starts JupyterLab from the project venv."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import REPO


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    assert make, "make is a documented prerequisite"
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    cmd = " ".join([make, "--no-print-directory", "-C", str(REPO), *args])
    return subprocess.run(
        ["/bin/sh", "-c", cmd], env=env, capture_output=True, text=True, timeout=120, encoding="utf-8"
    )


def test_make_test_without_chromium_says_what_to_install_first() -> None:
    # `make -n` would print the recipe; run the real check with Chromium "missing".
    r = _make("check-browser", "CHROMIUM=/nonexistent/chromium")
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith(("make:", "make["))]
    assert lines == [
        "make test needs Chromium at /nonexistent/chromium for the browser tests: run 'make setup-browser' "
        "(sudo apt-get install chromium faketime)"
    ]
    # ...and that check runs before anything else in `make test` (no venv, no lint first).
    dry = _make("-n", "test", "CHROMIUM=/nonexistent/chromium")
    assert dry.stdout.lstrip().startswith("test -x /nonexistent/chromium")


def test_make_lab_recipe() -> None:
    dry = _make("-n", "-B", "lab", "LAB_ARGS=--no-browser")
    out = dry.stdout
    # the demo artifacts the notebooks default to, then JupyterLab from .venv through `ztb lab`, in the
    # workspace notebooks/ (copies of the packaged notebooks), on 127.0.0.1
    assert "test -d demo/artifacts || .venv/bin/ztb demo --out-dir demo" in out
    assert 'ipykernel install --sys-prefix --name ztbkit --display-name "Python (ztbkit)"' in out
    lab = [ln for ln in out.splitlines() if ln.startswith(".venv/bin/ztb lab")]
    assert len(lab) == 1 and "--dir notebooks" in lab[0] and "--ServerApp.ip=127.0.0.1" in lab[0]
    assert lab[0].rstrip().endswith("--no-browser")


def test_make_test_without_the_bot_fixtures_says_where_they_belong_first(tmp_path: Path) -> None:
    # A clone on its own (no shared/ beside it): one line before anything runs, not 20 test errors later.
    missing = tmp_path / "no-shared"
    r = _make("check-fixtures", f"ZTB_SHARED_DIR={missing}")
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith(("make:", "make["))]
    assert lines == [
        f"make test needs the real bot fixtures at {missing}/fixtures/zaif-trade-bot: "
        "put the shared/ folder beside this checkout or set ZTB_SHARED_DIR"
    ]
    dry = _make("-n", "test", f"ZTB_SHARED_DIR={missing}")
    first = [ln for ln in dry.stdout.splitlines() if ln.strip()][:2]
    assert first[1].startswith(f"test -d {missing}/fixtures/zaif-trade-bot"), dry.stdout


def test_make_demo_installs_the_runtime_only_and_make_test_adds_the_dev_tools() -> None:
    """A first `make demo` installed the whole .[dev] set (playwright, moto, mypy, jupyterlab...): more
    than twice `pip install -e .`. The demo needs the runtime dependencies and the kernel, no more."""
    demo = _make("-n", "-B", "demo").stdout
    installs = [ln for ln in demo.splitlines() if " -m pip install " in ln]
    assert installs == [".venv/bin/python -m pip install --quiet --disable-pip-version-check -e ."], demo
    assert 'ipykernel install --sys-prefix --name ztbkit --display-name "Python (ztbkit)"' in demo
    assert (
        ".venv/bin/ztb demo --out-dir demo" in demo
        and ".venv/bin/ztb nightly --artifacts-dir demo/artifacts" in demo
    )
    test = _make("-n", "-B", "test").stdout
    installs = [ln.split(" -e ")[-1] for ln in test.splitlines() if " -m pip install " in ln]
    assert installs == [".", "'.[dev]'"], test  # the runtime first, then the dev tools on top
    pytest_line = [ln for ln in test.splitlines() if " -m pytest" in ln]
    assert len(pytest_line) == 1 and pytest_line[0].endswith("-m pytest -n 2"), test
