"""Benchmark: what an idle scheduler tick and an idle `ztb watch --once` cost, in instructions
(valgrind's callgrind), against `ztb --help` and bare Python, measured in the same run.

The idle tick is `ztb cronish --interval-sec 3600 --once` whose slot already ran (cron or the watch
call it every few minutes; nothing is due; a webhook is configured, nothing fails). The idle watch is
`ztb watch --once` on the documented minimal setup (a watch.toml naming a live state folder and a
small artifacts tree, the demo's, as bench_watch.py builds it) after a first evaluation already sent
what fired (to a local webhook server): every rule is evaluated, the state is written, nothing new
is sent. Instructions, not seconds: they do not move with the other jobs on a shared machine.
Target (issue 29): each within 1.3x of `ztb --help`. Also listed: how many modules each imports.

    python benchmarks/bench_idle.py [--no-callgrind]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

ZTB = [sys.executable, "-m", "ztbkit"]
COUNT_MODULES = (
    "import runpy, sys, json\n"
    "sys.argv = ['ztb', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('ztbkit', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
)


def quiet_env() -> dict[str, str]:
    """The caller's environment without webhooks (run() sets a local one: a configured webhook must not
    make an idle run load the sending half). Bytecode is written (a warm-up run writes it), as in
    an installed copy: compiling the sources again on every run would be counted otherwise."""
    drop = ("ZTB_DISCORD_WEBHOOK", "SLACK_WEBHOOK_URL", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return env


#: Not imported by an idle run (the tick still imports filelock for its state lock: 43M, under the line).
HEAVY = {"requests", "urllib3", "pandas", "matplotlib", "numpy", "babel"}
SESSIONS = 20  # a small tree: the watch reads its index.json, not every session


def watch_setup(base: Path) -> Path:
    """The documented minimal setup: watch.toml with [live] state_dir and [training] artifacts_dir."""
    from gen_tree import ensure_tree

    artifacts = ensure_tree(base / "tree", SESSIONS)
    config = base / "watch.toml"
    config.write_text(f'[live]\nstate_dir = "{base / "tree" / "state"}"\n'
                      f'[training]\nartifacts_dir = "{artifacts}"\n', encoding="utf-8")  # fmt: skip
    return config


def cases(state: Path, config: Path) -> dict[str, list[str]]:
    tick = ["cronish", "--interval-sec", "3600", "--once", "--state-file", str(state), "--", "true"]
    watch = ["watch", "--once", "--config", str(config), "--state-dir", str(config.parent)]
    return {
        "bare_python": [sys.executable, "-c", "pass"],
        "ztb_help": [*ZTB, "--help"],
        "idle_tick": [*ZTB, *tick],
        "idle_watch": [*ZTB, *watch],
    }


def instructions(argv: list[str], env: dict[str, str], out: Path) -> int:
    """Instructions executed by the whole process (callgrind's total)."""
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv], env=env,
                   check=True, capture_output=True)  # fmt: skip
    text = out.read_text(encoding="utf-8", errors="replace")
    found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    assert found, f"no instruction total in {out}"
    return int(found.group(1))


def modules(args: list[str], env: dict[str, str]) -> list[str]:
    r = subprocess.run(
        [sys.executable, "-c", COUNT_MODULES, *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
    )  # ztb writes UTF-8 to a pipe whatever the locale
    return list(json.loads(r.stderr.strip().splitlines()[-1]))


def run(callgrind: bool = True, work: Path | None = None) -> dict[str, object]:
    from fakehook import FakeHook

    with tempfile.TemporaryDirectory() as tmp:
        base = work or Path(tmp)
        state = base / "state.json"
        argv = cases(state, watch_setup(base))
        hook = FakeHook()
        env = {**quiet_env(), "ZTB_DISCORD_WEBHOOK": hook.url()}  # the watch needs somewhere to send
        try:
            # The first tick records the current slot (nothing ran before it); every later one in the
            # hour is idle. The first watch evaluation sends what fires; the later ones have nothing
            # new. Each command also runs once unmeasured, so its bytecode is on disk.
            for cmd in argv.values():
                subprocess.run(cmd, env=env, check=True, capture_output=True)
            sent_first = len(hook.seen)
            result: dict[str, object] = {}
            for name in ("ztb_help", "idle_tick", "idle_watch"):
                mods = modules(argv[name][3:], env)
                result[f"{name}_modules"] = len(mods)
                if name != "ztb_help":
                    result[f"{name}_heavy"] = sorted({m.split(".")[0] for m in mods} & HEAVY)
            if callgrind and shutil.which("valgrind"):
                for name, cmd in argv.items():
                    result[f"{name}_instructions"] = instructions(cmd, env, base / f"{name}.callgrind")
                help_i = result["ztb_help_instructions"]
                assert isinstance(help_i, int)
                for name in ("idle_tick", "idle_watch"):
                    mine = result[f"{name}_instructions"]
                    assert isinstance(mine, int)
                    result[f"ratio_{name[5:]}_to_help"] = round(mine / help_i, 3)
            result["watch_sent_idle"] = len(hook.seen) - sent_first  # nothing new: 0
            return result
        finally:
            hook.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-callgrind", action="store_true", help="only count the modules imported")
    args = parser.parse_args()
    result = run(callgrind=not args.no_callgrind)
    for key, value in result.items():
        print(f"{key:28} {value:,}" if isinstance(value, int) else f"{key:28} {value}")


if __name__ == "__main__":
    main()
