"""Benchmark: what an idle scheduler tick costs, in instructions (valgrind's callgrind), against
`ztb --help` and bare Python, measured in the same run.

The idle tick is `ztb cronish --interval-sec 3600 --once` whose slot already ran (cron or the watch
call it every few minutes; nothing is due, no webhook is configured). Instructions, not seconds:
they do not move with the other jobs on a shared machine. Target (issue 29): within 1.3x of
`ztb --help`. Also listed: how many modules each imports.

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

ZTB = [sys.executable, "-m", "ztbkit"]
COUNT_MODULES = (
    "import runpy, sys, json\n"
    "sys.argv = ['ztb', *sys.argv[1:]]\n"
    "try:\n    runpy.run_module('ztbkit', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
)


def quiet_env() -> dict[str, str]:
    """No webhook configured: the idle tick has nowhere to send, as on most users' machines. Bytecode
    is written (a warm-up run writes it), as in an installed copy: compiling the sources again on
    every run would be counted otherwise."""
    drop = ("ZTB_DISCORD_WEBHOOK", "SLACK_WEBHOOK_URL", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return env


def cases(state: Path) -> dict[str, list[str]]:
    tick = ["cronish", "--interval-sec", "3600", "--once", "--state-file", str(state), "--", "true"]
    return {
        "bare_python": [sys.executable, "-c", "pass"],
        "ztb_help": [*ZTB, "--help"],
        "idle_tick": [*ZTB, *tick],
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
    with tempfile.TemporaryDirectory() as tmp:
        base = work or Path(tmp)
        state = base / "state.json"
        env = quiet_env()
        argv = cases(state)
        # The first tick records the current slot (nothing ran before it); every later one in the hour
        # is idle. Each command also runs once unmeasured, so its bytecode is on disk.
        for cmd in argv.values():
            subprocess.run(cmd, env=env, check=True, capture_output=True)
        result: dict[str, object] = {}
        for name in ("ztb_help", "idle_tick"):
            mods = modules(argv[name][3:], env)
            result[f"{name}_modules"] = len(mods)
            if name == "idle_tick":
                heavy = sorted(
                    {m.split(".")[0] for m in mods} & {"requests", "pandas", "matplotlib", "numpy"}
                )
                result["idle_tick_heavy"] = heavy
        if callgrind and shutil.which("valgrind"):
            for name, cmd in argv.items():
                result[f"{name}_instructions"] = instructions(cmd, env, base / f"{name}.callgrind")
            help_i = result["ztb_help_instructions"]
            assert isinstance(help_i, int)
            tick_i = result["idle_tick_instructions"]
            assert isinstance(tick_i, int)
            result["ratio_tick_to_help"] = round(tick_i / help_i, 3)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-callgrind", action="store_true", help="only count the modules imported")
    args = parser.parse_args()
    result = run(callgrind=not args.no_callgrind)
    for key, value in result.items():
        print(f"{key:28} {value:,}" if isinstance(value, int) else f"{key:28} {value}")


if __name__ == "__main__":
    main()
