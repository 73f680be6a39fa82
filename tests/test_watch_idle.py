"""An idle ``ztb watch --once`` (cron runs it every minute) imports nothing heavy, in English and in
Japanese, and its one-evaluation-at-a-time lock still holds: a holder (another evaluation, or an older
ztbkit holding the file through filelock) makes it skip, and a holder killed with -9 leaves no lock
behind. Real processes: the documented cron line in /bin/sh, the local Discord-like server."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fakehook import FakeHook
from filelock import FileLock
from watchkit import age, env_for, live_folder, watch_once, write_config

#: Never in an idle evaluation: the sending half (requests), the analysis stack, Babel's data, and
#: what an idle evaluation used to pay for (filelock 4 and decimal: a tenth of ``ztb --help`` each).
HEAVY = ("requests", "urllib3", "pandas", "numpy", "matplotlib", "babel", "papermill", "nbconvert",
         "fsspec", "pyarrow", "tensorboard", "tensorboardX", "google", "filelock", "decimal")  # fmt: skip


def imported(stderr: str) -> set[str]:
    """Module names from Python's own import log (PYTHONPROFILEIMPORTTIME=1: one line per import)."""
    return {m.group(1).strip() for m in re.finditer(r"^import time:[^|]*\|[^|]*\|\s*(\S+)", stderr, re.M)}


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_an_idle_watch_once_imports_nothing_heavy(tmp_path: Path, hook_server: FakeHook, lang: str) -> None:
    live = live_folder(tmp_path / "live", age_sec=1200)
    write_config(tmp_path / "watch.toml")
    env = env_for(hook_server.url(), ZTB_LANG=lang)
    first = watch_once(tmp_path, env)
    sent = len(hook_server.titles)  # both live files stale: two alerts, really sent
    assert first.returncode == 0 and sent == 2, first.stdout + first.stderr
    age(live, 1200)  # still stale: firing, already sent, nothing new
    idle = watch_once(tmp_path, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
    assert idle.returncode == 0, idle.stderr
    assert len(hook_server.titles) == sent  # this evaluation was idle
    said = "nothing new to send" if lang == "en" else "新たに送るものはありません"
    assert said in idle.stdout, idle.stdout
    modules = imported(idle.stderr)
    assert {"ztbkit.watch.engine", "ztbkit.watch.rules_live", "tomllib"} <= modules  # the log is read right
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []


def test_an_evaluation_holding_the_lock_makes_the_next_one_skip_and_kill_9_frees_it(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    live_folder(tmp_path / "live")
    write_config(tmp_path / "watch.toml")
    env = env_for(hook_server.url())
    assert watch_once(tmp_path, env).returncode == 0
    lock_file = tmp_path / ".ztb" / "watch.lock"
    with FileLock(str(lock_file), timeout=0):  # held as an older ztbkit (filelock) holds it
        r = watch_once(tmp_path, env)
    assert r.returncode == 0 and "skipped: another ztb watch is evaluating" in r.stdout, r.stdout + r.stderr
    holder = subprocess.Popen(  # held as a running evaluation holds it, then killed mid-evaluation
        [sys.executable, "-c", "import sys, time\nfrom ztbkit.core.trylock import try_lock\n"
         "with try_lock(__import__('pathlib').Path(sys.argv[1])) as taken:\n"
         "    print(taken, flush=True)\n    time.sleep(120)\n", str(lock_file)],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        r = watch_once(tmp_path, env)
        assert "skipped: another ztb watch is evaluating" in r.stdout, r.stdout + r.stderr
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
    r = watch_once(tmp_path, env)
    assert r.returncode == 0 and r.stdout.startswith("ok: "), r.stdout + r.stderr
    assert lock_file.is_file() and hook_server.titles == []
