"""Fuzz ``ztb compat``'s ``run`` action as an untrusted caller would, and count the escapes.

    .venv/bin/python tests/fuzz_compat.py [--requests 300] [--seed 25]

A sandbox holds compat's working folder (with the bot's own ./artifacts, ./runs, ./reports and
./trends.csv, none of them a root, and the one configured root ``./root/``, with a symlink
``root/link`` to ``../outside/``), ``outside/`` and a private HOME and cache folder. Each request is a random
command (report commands, refused ones, other programs) with random options, spellings and paths
(inside, outside, ``..``, links, URLs, look-alike slashes, empty, ``-``) or with options left out.
An *escape* is a request after which anything outside the roots (``./root/`` and ``./outputs/``) was
created, changed or removed, or whose answer or reports inside the roots show the canary figure of a
session that exists only outside them (a read from outside).
The run prints the counts; ``tests/test_compat_fuzz.py`` runs a short fuzz on every test run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANARY = "20990101T000000Z"  # a session that exists only outside the roots
MARK = 987654321  # its global_step: seen in an answer or a report inside the roots, it was read from outside
SUMMARY = {
    "global_step": 100,
    "rl_sharpe": 1.2,
    "dsr": 0.5,
    "p_value": 0.05,
    "wall_clock_duration_hours": 1.0,
}
COST = {"total_cost_jpy": 12.5, "gpu_hours": 1.0}
PATHS = [
    "root/x.md",
    "root/sub/x.csv",
    "root",
    "root/runs",
    "root/trends.csv",
    "root/link/x.md",
    "root/link",
    "root/../../outside/x.md",
    "../outside/x.md",
    "../outside",
    "../root/x.md",
    "artifacts",
    "runs",
    "reports/x.md",
    "reports",
    "trends.csv",
    "/tmp/ztb-fuzz-escape.md",
    "file:///tmp/ztb-fuzz.md",
    "s3://bucket/x",
    "outputs/x.md",
    "outputs",
    "outputs/../x.md",
    "",
    "-",
    "~/x.md",
    "root/\u2215..\u2215x.md",
    "root\\..\\x.md",
    "%2e%2e/x.md",
    ".ztb/cronish-state.json",
    "root/s1",
    "x" * 300,
    "root/" + "d/" * 40,
]
VALUES = {"--correlation-id": ["s1", CANARY, "../s1", "s1/../..", ""], "--date": ["2025-10-01", "bad"],
          "--template": ["nightly", "hourly", "../x"], "--tariff": ["simple", "jp_residential_tiered",
          "root/t.toml", "outside/t.toml"], "--kwh": ["1", "-1"], "--kwh-rate": ["30"], "--cell-timeout": ["60"],
          "--tag": ["time/fps"], "--total-steps": ["1000"], "--sharpe": ["1.2"], "--observations": ["252"],
          "--trials": ["5"], "--sharpe-variance": ["0.1"], "-p": ["artifacts_dir", "outside"],
          "--parameter": ["artifacts_dir", "outside"]}  # fmt: skip
INSIDE = [
    "root/x.md",
    "root/sub/x.csv",
    "root",
    "root/runs",
    "root/trends.csv",
    "outputs/x.md",
    "outputs",
    "root/s1",
    "root/out.json",
]
REFUSED = ["cronish", "nightly", "demo", "notify", "gates-alert", "live-status", "trend-alert", "kernel", "lab",
           "compat", "nosuch"]  # fmt: skip
PROGRAMS = [["sh", "-c", "touch ../outside/pwned"], [sys.executable, "-c", "print(1)"], ["/bin/rm", "-rf", "root"],
            ["ztb.exe", "budget"], ["python3", "-m", "ztbkit", "budget"]]  # fmt: skip


@dataclass
class Counts:
    requests: int = 0
    refused: int = 0
    started: int = 0
    escapes: int = 0
    examples: list[str] = field(default_factory=list)


def build(base: Path) -> None:
    """The sandbox (see the module docstring)."""
    event = next((Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "zaif-trade-bot"
                  / "tensorboard" / "evaluation").glob("events.out.tfevents.*"), None)  # fmt: skip
    for tree, sid in (
        (base / "cwd" / "artifacts", CANARY),
        (base / "cwd" / "root", "s1"),
        (base / "outside", CANARY),
    ):
        (tree / sid / "reports").mkdir(parents=True)
        step = MARK if sid == CANARY else 100
        (tree / sid / "summary.json").write_text(
            json.dumps({**SUMMARY, "global_step": step}), encoding="utf-8"
        )
        (tree / sid / "reports" / "cost_estimate.json").write_text(json.dumps(COST), encoding="utf-8")
        (tree / "trends.csv").write_text(f"session_id,global_step,rl_sharpe,dsr,p_value\n{sid},{step},1,0.5,0.1\n",
                                         encoding="utf-8")  # fmt: skip
        if event is not None:
            (tree.parent / "runs" / sid).mkdir(parents=True, exist_ok=True)
            shutil.copy(event, tree.parent / "runs" / sid / event.name)
    (base / "cwd" / "root" / "link").symlink_to(base / "outside", target_is_directory=True)
    (base / "cwd" / "reports").mkdir()
    (base / "cwd" / ".ztb").mkdir()
    (base / "cwd" / ".ztb" / "cronish-state.json").write_text('{"version": 1, "jobs": {}}', encoding="utf-8")
    for name in ("home", "xdg"):
        (base / name).mkdir()


def watched(base: Path) -> dict[str, tuple[int, int, int]]:
    """Everything outside the roots: (mode, size, mtime) by path."""
    roots = {base / "cwd" / "root", base / "cwd" / "outputs"}
    out: dict[str, tuple[int, int, int]] = {}
    stack = [base]
    while stack:
        folder = stack.pop()
        for entry in os.scandir(folder):
            path = Path(entry.path)
            if path in roots:
                continue
            st = entry.stat(follow_symlinks=False)
            if entry.is_dir(follow_symlinks=False):  # a folder's own times change with its entries, seen here
                out[str(path.relative_to(base))] = (st.st_mode, 0, 0)
                stack.append(path)
            else:
                out[str(path.relative_to(base))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def _inside_text(base: Path) -> str:
    """The text of the reports the command wrote inside the roots (does one hold the outside mark?)."""
    out = []
    for root in (base / "cwd" / "root", base / "cwd" / "outputs"):
        for path in root.rglob("*") if root.is_dir() else []:
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 4_000_000:
                out.append(path.read_bytes().decode("utf-8", "replace"))
    return "".join(out)


def random_request(rng: random.Random) -> list[str]:
    from ztbkit.cli import cli
    from ztbkit.cli.allowlist import REPORT_COMMANDS

    roll = rng.random()
    if roll < 0.05:
        return list(rng.choice(PROGRAMS))
    name = rng.choice(REFUSED) if roll < 0.15 else rng.choice(sorted(REPORT_COMMANDS))
    argv = ["ztb", name]
    command = cli.commands.get(name)
    if command is None:
        return argv
    if name == "report":
        argv.append(rng.choice(["trends", "budget", "dashboard", "cost", "root/evil.ipynb", "../x.ipynb"]))
    options = [p for p in command.params if getattr(p, "opts", None) and p.opts[0].startswith("-")]
    chosen = rng.sample(options, k=rng.randint(0, len(options)))
    if rng.random() < 0.5:  # half the time every path option is given: more requests get to run
        chosen += [p for p in options if getattr(p.type, "name", "") == "path" and p not in chosen]
    for param in chosen:
        flag = rng.choice([*param.opts, *param.secondary_opts])
        if rng.random() < 0.04:
            flag = flag[: max(3, len(flag) - 2)]  # an abbreviation
        if getattr(param, "is_flag", False):
            argv.append(flag)
            continue
        path_like = getattr(param.type, "name", "") == "path" or flag == "--tariff"
        pool = (INSIDE if rng.random() < 0.6 else PATHS) if path_like else VALUES.get(flag, ["1", "x"])
        value = rng.choice(pool)
        argv += [f"{flag}={value}"] if rng.random() < 0.2 else [flag, value]
        if getattr(param, "nargs", 1) == 2:
            argv.append(rng.choice(PATHS))
    if rng.random() < 0.03:
        argv.append(rng.choice(["--", "--evil", "-vp", "extra"]))
    if name in ("dashboard", "report") and "--cell-timeout" not in argv:
        argv += ["--cell-timeout", "60"]
    return argv


def fuzz(base: Path, requests: int, seed: int, timeout: float = 120.0) -> Counts:
    """Run ``requests`` random requests in a fresh sandbox under ``base``; the counts."""
    from ztbkit.cli.compat import handle

    build(base)
    os.environ.update({"HOME": str(base / "home"), "XDG_CACHE_HOME": str(base / "xdg")})
    os.chdir(base / "cwd")
    rng = random.Random(seed)
    counts = Counts()
    before = watched(base)
    for _ in range(requests):
        argv = random_request(rng)
        request: dict[str, Any] = {"action": "run", "params": {"command": argv, "timeout": timeout}}
        answer = handle(json.dumps(request), artifacts_dir=base / "cwd" / "root", state_dir=base / "cwd" / "root", env={},
                        config=None)  # fmt: skip
        counts.requests += 1
        if "returncode" in answer:
            counts.started += 1
        else:
            counts.refused += 1
        after = watched(base)
        shown = json.dumps({k: answer.get(k) for k in ("stdout", "stderr", "error")}) + _inside_text(base)
        if after != before or str(MARK) in shown:
            counts.escapes += 1
            changed = sorted(set(after.items()) ^ set(before.items()))[:3]
            counts.examples.append(f"{argv}: {changed or 'canary shown'}")
            before = after
    return counts


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--seed", type=int, default=25)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ztb-fuzz-") as tmp:
        counts = fuzz(Path(tmp), args.requests, args.seed)
    print(f"requests tried: {counts.requests}  refused: {counts.refused}  started: {counts.started}  "
          f"escapes: {counts.escapes}")  # fmt: skip
    for example in counts.examples:
        print("  escape:", example)
    sys.exit(1 if counts.escapes else 0)


if __name__ == "__main__":
    main()
