"""ztb kernel install: pip and Windows users register "Python (ztbkit)" without make."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ztbkit.cli import cli

ZTB = Path(sys.executable).parent / ("ztb.exe" if os.name == "nt" else "ztb")

FIND_AND_RUN = """
import json, sys
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel
spec = KernelSpecManager().get_kernel_spec("ztbkit")
km, kc = start_new_kernel(kernel_name="ztbkit", startup_timeout=120)
try:
    seen = []
    kc.execute_interactive("import sys, ztbkit; print(sys.executable); print(ztbkit.__file__)", timeout=120,
                           output_hook=lambda m: seen.append(m["content"].get("text", "")))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print(json.dumps({"dir": spec.resource_dir, "name": spec.display_name, "argv": spec.argv, "out": "".join(seen)}))
"""


def test_user_install_is_found_first_and_starts_a_real_kernel(tmp_path: Path) -> None:
    data = tmp_path / "jupyter-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")} | {
        "JUPYTER_DATA_DIR": str(data)
    }
    # Inside a venv Jupyter looks in the venv first, where `make setup` installed one already; this
    # test is about the --user copy, so Jupyter is told to prefer the user's folder.
    env["JUPYTER_PREFER_ENV_PATH"] = "0"
    # The documented command, pasted as-is into a shell with the venv's bin on PATH.
    env["PATH"] = f"{ZTB.parent}{os.pathsep}{env.get('PATH', '')}"
    r = subprocess.run(
        ["/bin/sh", "-c", "ztb kernel install --user"], env=env, capture_output=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith('installed kernel "Python (ztbkit)"')
    spec = json.loads((data / "kernels" / "ztbkit" / "kernel.json").read_text(encoding="utf-8"))
    assert spec["display_name"] == "Python (ztbkit)" and spec["argv"][0] == sys.executable
    r = subprocess.run([sys.executable, "-c", FIND_AND_RUN], env=env, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    found = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert Path(found["dir"]) == data / "kernels" / "ztbkit"  # the --user copy is the one found
    lines = found["out"].split()
    assert (
        lines[0] == sys.executable
        and Path(lines[1]).parent == Path(__file__).resolve().parents[1] / "src" / "ztbkit"
    )


DEFAULT_INSTALL = """
import sys
sys.prefix, sys.base_prefix = sys.argv[1], sys.argv[2]  # before Jupyter reads them at import
from ztbkit.cli import main
main(["kernel", "install"])
"""


@pytest.mark.parametrize("in_venv", [True, False])
def test_default_is_sys_prefix_inside_a_venv_else_user(tmp_path: Path, in_venv: bool) -> None:
    prefix, data = tmp_path / "venv", tmp_path / "user-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")} | {
        "JUPYTER_DATA_DIR": str(data)
    }
    base = "/usr" if in_venv else str(prefix)  # a venv's prefix differs from its base Python's
    r = subprocess.run([sys.executable, "-c", DEFAULT_INSTALL, str(prefix), base], env=env, capture_output=True,
                       timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    in_prefix = prefix / "share" / "jupyter" / "kernels" / "ztbkit" / "kernel.json"
    in_user = data / "kernels" / "ztbkit" / "kernel.json"
    assert (in_prefix.is_file(), in_user.is_file()) == (in_venv, not in_venv)
    assert str((in_prefix if in_venv else in_user).parent) in r.stdout.decode()


def test_user_and_sys_prefix_are_exclusive_choices() -> None:
    r = CliRunner().invoke(cli, ["kernel", "install", "--help"])
    assert r.exit_code == 0 and "--user" in r.stdout and "--sys-prefix" in r.stdout
