"""Benchmark: a fresh clone to rendered reports (`make demo`) against `pip install -e .` alone.

Both are measured in the same run, each in its own fresh `git clone` of this repository (the
committed HEAD, or --ref) in a temporary folder, with the same Python and the same pip
configuration; the pip cache is whatever this machine has (say whether it was warm when you quote
the figures). Also reported: the size of each .venv and how many distributions it holds. Target
(issue 29): `make demo` within 2x of `pip install -e .` alone.

    python benchmarks/bench_first_run.py [--ref COMMIT] [--python python3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def clone(into: Path, ref: str) -> Path:
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(into)], check=True)
    subprocess.run(["git", "-C", str(into), "checkout", "--quiet", ref], check=True)
    return into


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return elapsed


def venv_facts(venv: Path) -> tuple[int, int]:
    """(size in MB, number of installed distributions)."""
    size = sum(p.stat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
    dists = len(list(venv.glob("lib/python3*/site-packages/*.dist-info")))
    return size // 2**20, dists


def run(ref: str = "HEAD", python: str = "python3", work: Path | None = None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONHOME"))}
    env["ZTB_SHARED_DIR"] = str(REPO.parent / "shared")
    with tempfile.TemporaryDirectory() as tmp:
        base = work or Path(tmp)
        pip_only = clone(base / "pip-only", ref)
        demo = clone(base / "make-demo", ref)
        # pip install -e . alone: the floor every install pays (venv, then the runtime dependencies).
        pip_s = timed(["/bin/sh", "-c", f"{python} -m venv .venv && .venv/bin/python -m pip install --quiet "
                       "--disable-pip-version-check -e ."], pip_only, env)  # fmt: skip
        demo_s = timed(["make", "--no-print-directory", f"PYTHON={python}", "demo"], demo, env)
        reports = sorted(p.name for p in (demo / "outputs" / "2025-10-31").glob("*.html"))
        pip_mb, pip_dists = venv_facts(pip_only / ".venv")
        demo_mb, demo_dists = venv_facts(demo / ".venv")
        if work is None:
            shutil.rmtree(base, ignore_errors=True)
    return {
        "ref": ref,
        "pip_install_s": round(pip_s, 1),
        "make_demo_s": round(demo_s, 1),
        "ratio": round(demo_s / pip_s, 2),
        "pip_venv_mb": pip_mb,
        "pip_dists": pip_dists,
        "demo_venv_mb": demo_mb,
        "demo_dists": demo_dists,
        "reports": reports,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="the commit to clone (default: HEAD)")
    parser.add_argument("--python", default="python3", help="the Python that makes the venvs")
    args = parser.parse_args()
    for key, value in run(args.ref, args.python).items():
        print(f"{key:16} {value}")
    sys.exit(0)


if __name__ == "__main__":
    main()
