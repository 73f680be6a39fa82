"""Shared test helpers: the real bot fixtures and tiny artifact trees built in tmp_path."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ZTB_SHARED_DIR", REPO.parent / "shared"))
BOT_FIXTURES = SHARED / "fixtures" / "zaif-trade-bot"


def pytest_configure(config: pytest.Config) -> None:
    """Under ``make mutation`` each mutant's tests run in a fork of mutmut, in mutmut's process group.
    A mutant such as ``kill_tree(None)`` (psutil's "this process") makes the code kill its *own* group,
    which took mutmut and make down with it. In a group of its own, only the test process dies (the
    mutant counts as killed: exit -9)."""
    if "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", "") and hasattr(os, "setpgid"):
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
    # English for the whole session, before any module- or session-scoped fixture renders a report or
    # runs a command: CI's ja_JP.EUC-JP locale would otherwise make those speak Japanese (the
    # function-scoped _english_unless_asked below comes too late for them). Tests of Japanese ask.
    os.environ["ZTB_LANG"] = "en"


# The timing-sensitive tests: races repeated, kill -9 at random points, faketime runners, kernels
# started at once, real Chromium and JupyterLab. Under `make test`'s two workers (pytest-xdist) they
# are one unit of work, run by one worker one after another as in a serial run, while the other
# worker takes the rest. A module, or a module::test (every parametrisation of it).
SERIAL = (
    "test_cli_kernel.py", "test_compat_breakin.py", "test_dashboard_browser.py", "test_fsio.py",
    "test_jupyterlab_browser.py", "test_outbox.py", "test_proc.py", "test_runner_runs.py",
    "test_schedule_ops.py", "test_schedule_races.py", "test_silent_failures.py", "test_watch.py",
    "test_watch_attacks.py", "test_heartbeat.py", "test_write_redirect.py", "test_alert_attacks.py",
    "test_reports.py::test_cell_timeout_is_a_kernel_failure_with_the_notebook_kept",
    "test_reports.py::test_dead_kernel_is_told_apart_from_a_failed_cell",
    "test_reports.py::test_whole_run_limit_kills_the_process_tree_kernel_included",
    "test_reports.py::test_an_interrupted_render_leaves_no_report_process_or_kernel_running",
    "test_reports.py::test_parallel_kernel_starts_never_collide",
    "test_reports.py::test_a_kernel_that_fails_to_start_is_retried_once_and_says_so",
    "test_reports.py::test_a_kernel_that_never_starts_fails_after_one_retry",
)  # fmt: skip


# Modules whose tests share an expensive module-scoped fixture (reports rendered by real kernels, a
# nightly, a fake S3 server, a demo tree): under two workers each module is one unit too, so that
# fixture is built once rather than once on each worker (a full run on two workers built test_reports'
# rendered reports and test_charset's world twice, 16 s and 28 s each under load). The SERIAL tests
# among them stay serial.
SHARED_SETUP = (
    "test_reports.py", "test_locale_reports.py", "test_storage.py", "test_workspace.py", "test_compare_browser.py",
    "test_demo.py", "test_snapshot.py", "test_folder_entries.py", "test_loadcache.py", "test_src_layout.py",
    "test_charset.py",
)  # fmt: skip


def is_serial(nodeid: str) -> bool:
    """Whether the test ``nodeid`` (``tests/test_x.py::test_y[param]``) belongs to the serial unit."""
    path, _, name = nodeid.partition("::")
    where = f"{path.rpartition('/')[2]}::{name.partition('[')[0]}::"
    return any(where.startswith(s + "::") for s in SERIAL)


def work_unit(nodeid: str) -> str:
    """The xdist unit of work of the test ``nodeid``: "serial", its module (SHARED_SETUP), or itself."""
    if is_serial(nodeid):
        return "serial"
    module = nodeid.partition("::")[0].rpartition("/")[2]
    return f"module {module}" if module in SHARED_SETUP else nodeid


DURATIONS_KEY = "ztbkit/durations"  # .pytest_cache: seconds per test id, from the runs so far


def ordered_units(workqueue: dict[str, dict[str, bool]], durations: dict[str, float]) -> list[str]:
    """The order in which units are handed out: the serial unit first (the wall time cannot be shorter
    than it, so it must not start late), then the longest first by the last known durations (a long
    test started last would leave one worker running it alone); without durations, xdist's order."""
    known = sorted(durations.values())
    guess = known[len(known) // 2] if known else 0.0  # a new test: the median

    def length(unit: str) -> float:
        return sum(durations.get(nodeid, guess) for nodeid in workqueue[unit])

    rest = [u for u in workqueue if u != "serial"]
    if known:
        rest.sort(key=length, reverse=True)
    return ["serial", *rest] if "serial" in workqueue else rest


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scheduler for `-n N` (the default --dist load, or loadgroup): every test is its
    own unit of work, except the SERIAL ones, which are one unit, and the SHARED_SETUP modules, one
    unit each, handed out in ``ordered_units``'s order. Decided here, from the test ids, because
    ``--dist loadgroup`` silently stopped grouping with pytest 9.2's structured node ids
    (pytest-xdist issue 1386)."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None  # --dist loadfile, loadscope, each...: as asked
    from xdist.scheduler import LoadScopeScheduling

    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    durations = cache.get(DURATIONS_KEY, {}) if cache is not None else {}

    class SerialUnitScheduling(LoadScopeScheduling):  # type: ignore[misc]
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # the queue is complete before the first unit is handed out
                self.ordered = True
                for unit in ordered_units(self.workqueue, durations):
                    self.workqueue.move_to_end(unit)
            super()._assign_work_unit(node)

    return SerialUnitScheduling(config, log)


_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each test's setup + call + teardown time (under xdist, the controller gets every worker's)."""
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Keep the durations for the next run's order (merged: a run of one file keeps the others')."""
    cache = getattr(session.config, "cache", None)
    if cache is None or hasattr(session.config, "workerinput") or not _seconds:
        return
    cache.set(
        DURATIONS_KEY, {**cache.get(DURATIONS_KEY, {}), **{k: round(v, 3) for k, v in _seconds.items()}}
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.windows`` tests need real Windows; elsewhere they are skipped, saying why."""
    if sys.platform == "win32":
        return
    skip = pytest.mark.skip(reason="needs real Windows (run on a Windows CI: see README, Windows)")
    for item in items:
        if "windows" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _check_environment_left_clean() -> Iterator[None]:
    """A test leaves the process's environment as it found it (monkeypatch undoes its own changes).

    Why: xdist runs hundreds of tests in one worker process; a variable one test sets and keeps
    (``ZTB_NO_CACHE=1`` from an in-process benchmark once did) silently changes every later test on
    that worker. The leak is undone and the leaking test fails, named, instead of a stranger later.
    Its name sorts before every other autouse fixture here on purpose: pytest sets them up in name
    order, so this one is set up first and torn down last, after monkeypatch has undone its work."""
    before = dict(os.environ)
    yield
    changed = sorted(
        k
        for k in before.keys() | os.environ.keys()
        if before.get(k) != os.environ.get(k) and (k.startswith(("ZTB_", "XDG_", "LC_")) or k in _WATCHED_ENV)
    )
    if changed:
        for k in changed:
            if k in before:
                os.environ[k] = before[k]
            else:
                del os.environ[k]
        pytest.fail(
            f"the test left os.environ changed: {', '.join(changed)} (use monkeypatch)", pytrace=False
        )


#: Besides ZTB_*, XDG_* and LC_*: what changes ztbkit's behaviour (libraries that set their own
#: variables on import, such as moto's or Jupyter's, are left alone).
_WATCHED_ENV = {"HOME", "LANG", "LANGUAGE", "TZ", "PATH", "PYTHONIOENCODING", "MPLCONFIGDIR"}


@pytest.fixture(autouse=True)
def _english_unless_asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests speak English unless they ask for Japanese (``ZTB_LANG=ja``, ``--lang ja``, ``lang="ja"``).

    Deliberate: CI runs the suite under ``LANG=ja_JP.EUC-JP``, where ztbkit's default language is
    Japanese (it follows the locale); the tests that assert English words pin English here, and
    tests/test_locale.py checks the locale rule itself with an explicit environment. Subprocesses
    inherit ZTB_LANG=en too; ``sh()`` runs with exactly the env a test builds."""
    from ztbkit.locale import reset

    monkeypatch.setenv("ZTB_LANG", "en")
    reset()
    yield
    reset()


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """ztbkit's caches (load cache, object-storage mirror) go to a per-test folder, not ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(scope="session")
def bot_fixtures() -> Path:
    """The real zaif-trade-bot files (../shared/fixtures). Missing is an error, not a skip."""
    assert BOT_FIXTURES.is_dir(), f"real bot fixtures not found at {BOT_FIXTURES} (set ZTB_SHARED_DIR)"
    return BOT_FIXTURES


def write(path: Path, content: Any) -> Path:
    """Write JSON (dict/list), text (str) or bytes to path, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def sh(
    command: str, env: dict[str, str], cwd: Path, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """A documented command as a user pastes it: ``/bin/sh -c`` with exactly ``env`` (no inherited
    environment), output decoded as UTF-8."""
    return subprocess.run(
        ["/bin/sh", "-c", command], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        encoding="utf-8",
    )  # fmt: skip


MakeTree = Callable[..., Path]


@pytest.fixture
def make_tree(tmp_path: Path) -> MakeTree:
    """make_tree({"sid": {"summary.json": {...}, "reports/gates.json": "...raw..."}}, index=...) -> root"""

    def build(sessions: dict[str, dict[str, Any]], index: Any = None, root: Path | None = None) -> Path:
        base = root or tmp_path / "artifacts"
        base.mkdir(parents=True, exist_ok=True)
        for sid, files in sessions.items():
            (base / sid).mkdir(parents=True, exist_ok=True)
            for name, content in files.items():
                write(base / sid / name, content)
        if index is not None:
            write(base / "index.json", index)
        return base

    return build


@pytest.fixture
def hook_server() -> Any:
    from fakehook import FakeHook

    server = FakeHook()
    yield server
    server.close()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def require_chromium() -> None:
    """Missing Chromium is a failure with the one line that fixes it, not a skip."""
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} not found: run `make setup-browser` (sudo apt-get install chromium), Debian's Chromium"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (never a browser download of its own)."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
