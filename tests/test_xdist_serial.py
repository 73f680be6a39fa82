"""`make test` runs on two workers, and the timing-sensitive tests must still run one at a time, on
one worker, as in a serial run (tests/conftest.py, SERIAL). `--dist loadgroup` once stopped grouping
without a word (pytest 9.2), so this runs a real two-worker pytest and reads where and when each
test ran."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO, is_serial, ordered_units

PROBE = """
import json, os, time
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_probe(i: int, request: pytest.FixtureRequest) -> None:
    start = time.monotonic()
    time.sleep(0.2)
    out = os.path.join(os.environ["PROBE_OUT"], request.node.name.replace("/", "_") + "-{module}.json")
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({{"module": "{module}", "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                   "start": start, "end": time.monotonic()}}, fh)
"""


def sandbox(tmp_path: Path) -> Path:
    """A tests folder with the project's real conftest.py, for a pytest run of probe modules."""
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", tests / "conftest.py")
    return tests


def run_pytest(tmp_path: Path, tests: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest on ``tests`` in a clean environment (``env`` added), as a child process."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *args, str(tests)],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "ZTB_SHARED_DIR": str(tmp_path), **env},
        capture_output=True, text=True, timeout=300, encoding="utf-8",
    )  # fmt: skip


def test_serial_ids_are_recognised() -> None:
    assert is_serial("tests/test_proc.py::test_popen_kwargs_per_platform")
    assert is_serial("tests/test_reports.py::test_parallel_kernel_starts_never_collide")
    assert is_serial("tests/test_outbox.py::test_x[a/b::c]")  # a parameter with / and :: in it
    assert not is_serial("tests/test_reports.py::test_dashboard_facts")
    assert not is_serial("tests/test_proc_other.py::test_a")


def test_the_serial_tests_run_one_at_a_time_on_one_worker_and_the_rest_is_shared(tmp_path: Path) -> None:
    tests = sandbox(tmp_path)
    # Two serial modules (by name, from SERIAL) and two ordinary ones.
    for module, n in (("test_proc", 4), ("test_schedule_races", 4), ("test_ids", 6), ("test_stats", 6)):
        (tests / f"{module}.py").write_text(PROBE.format(n=n, module=module), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    r = run_pytest(tmp_path, tests, "-n", "2", "-p", "no:cacheprovider", "-p", "randomly", PROBE_OUT=str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json")]
    assert len(runs) == 20
    serial = sorted(
        (x for x in runs if x["module"] in ("test_proc", "test_schedule_races")), key=lambda x: x["start"]
    )
    assert len({x["worker"] for x in serial}) == 1  # one worker ran all eight
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(serial))  # one at a time
    assert {x["worker"] for x in runs} == {"gw0", "gw1"}  # and the rest was shared out


SHARED = """
import json, os, time
import pytest

@pytest.fixture(scope="module")
def costly(request: pytest.FixtureRequest) -> str:
    out = os.path.join(os.environ["PROBE_OUT"], "built-{module}-" + str(os.getpid()))
    open(out, "w", encoding="utf-8").close()  # one file per time this module's setup is built
    return out

@pytest.mark.parametrize("i", range({n}))
def test_shared(i: int, costly: str, request: pytest.FixtureRequest) -> None:
    start = time.monotonic()
    time.sleep(0.2)
    out = os.path.join(os.environ["PROBE_OUT"], request.node.name + "-{module}.json")
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({{"module": "{module}", "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                   "start": start, "end": time.monotonic()}}, fh)
"""


def test_a_module_sharing_costly_setup_builds_it_once_and_the_serial_unit_starts_first(
    tmp_path: Path,
) -> None:
    """Two SHARED_SETUP modules of 10 tests each, larger than the serial unit (4 tests): each module's
    fixture is built once (its tests on one worker), and the serial unit is still handed out in the
    first round (by size alone it would wait for both modules)."""
    tests = sandbox(tmp_path)
    (tests / "test_proc.py").write_text(PROBE.format(n=4, module="test_proc"), encoding="utf-8")
    (tests / "test_ids.py").write_text(PROBE.format(n=4, module="test_ids"), encoding="utf-8")
    for module in ("test_reports", "test_storage"):  # both in SHARED_SETUP
        (tests / f"{module}.py").write_text(SHARED.format(n=10, module=module), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    r = run_pytest(tmp_path, tests, "-n", "2", "-p", "no:cacheprovider", "-p", "randomly", PROBE_OUT=str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    built = sorted(p.name.rpartition("-")[0] for p in out.glob("built-*"))
    assert built == ["built-test_reports", "built-test_storage"], built  # once each, not once per worker
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json")]
    assert len(runs) == 28
    for module in ("test_reports", "test_storage"):
        assert len({x["worker"] for x in runs if x["module"] == module}) == 1, module
    first_serial = min(x["start"] for x in runs if x["module"] == "test_proc")
    first_end = min(x["end"] for x in runs)
    assert first_serial < first_end, "the serial unit waited for another unit to finish first"


def test_units_are_handed_out_serial_first_then_longest_first_by_the_last_durations() -> None:
    queue = {
        "a": {"a1": False},
        "serial": {"s1": False},
        "module x": {"x1": False, "x2": False},
        "b": {"b1": False},
    }
    durations = {"a1": 1.0, "x1": 2.0, "x2": 2.5, "b1": 10.0, "s1": 0.1}
    assert ordered_units(queue, durations) == ["serial", "b", "module x", "a"]
    assert ordered_units(queue, {}) == ["serial", "a", "module x", "b"]  # no durations yet: xdist's order
    # a test never timed counts as the median of the known ones (here 2.0): new b1 ties nothing above x
    assert ordered_units(queue, {"a1": 1.0, "x1": 2.0, "x2": 2.5}) == ["serial", "module x", "b", "a"]
    assert ordered_units({"a": {"a1": False}}, durations) == ["a"]


LONG = """
import json, os, time
import pytest

@pytest.mark.parametrize("i", range(7))
def test_order(i: int, request: pytest.FixtureRequest) -> None:
    start = time.monotonic()
    time.sleep(1.5 if i == 6 else 0.1)  # the last one collected is the long one
    out = os.path.join(os.environ["PROBE_OUT"], request.node.name + ".json")
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"i": i, "start": start, "end": time.monotonic()}, fh)
"""


def test_the_next_run_starts_the_test_that_took_longest_first(tmp_path: Path) -> None:
    """A run keeps each test's duration in .pytest_cache; the next run hands the long test out in the
    first round instead of last (where one worker would run it alone at the end)."""
    tests = sandbox(tmp_path)
    (tests / "test_order.py").write_text(LONG, encoding="utf-8")
    starts = []
    for run in ("first", "second"):
        out = tmp_path / run
        out.mkdir()
        r = run_pytest(tmp_path, tests, "-n", "2", "-p", "no:randomly", PROBE_OUT=str(out))
        assert r.returncode == 0, r.stdout + r.stderr
        runs = {x["i"]: x for x in (json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json"))}
        starts.append(sorted(runs, key=lambda i: runs[i]["start"]).index(6))  # how many started before it
    saved = json.loads(
        (tmp_path / ".pytest_cache" / "v" / "ztbkit" / "durations").read_text(encoding="utf-8")
    )
    assert saved["tests/test_order.py::test_order[6]"] >= 1.5
    assert starts[0] >= 4 and starts[1] <= 1, starts  # last (or nearly) the first time, first the next


LEAKY = """
import os

def test_leaks() -> None:
    os.environ["ZTB_NO_CACHE"] = "1"  # the in-process benchmark's mistake

def test_after() -> None:
    assert "ZTB_NO_CACHE" not in os.environ
"""


def test_a_test_that_leaves_an_environment_variable_set_fails_named_and_the_next_is_unharmed(
    tmp_path: Path,
) -> None:
    """One worker runs many tests in one process: a ZTB_/XDG_/locale variable a test sets and keeps
    would change every later test there (it once turned the curve cache off for half a worker)."""
    tests = sandbox(tmp_path)
    (tests / "test_leaky.py").write_text(LEAKY, encoding="utf-8")
    r = run_pytest(tmp_path, tests, "-p", "no:cacheprovider", "-p", "no:randomly", "-rE")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "2 passed, 1 error" in r.stdout, r.stdout
    assert (
        "ERROR tests/test_leaky.py::test_leaks" in r.stdout and "ZTB_NO_CACHE (use monkeypatch)" in r.stdout
    )
