"""#25 case 2: a folder swapped for a symlink while ztbkit writes cannot carry the write out.

A second process swaps the output folder for a symlink to a folder outside and back, as fast as it
can, while this one makes 200 atomic writes into it. On POSIX every write either lands in the real
folder or is refused (exit 2 material: OutputPathError naming the path); none lands outside.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ztbkit.core import fsio
from ztbkit.core.errors import OutputPathError

SWAPPER = r"""
import os, sys, time
out, real, outside, stop = sys.argv[1:5]
n = 0
while not os.path.exists(stop):
    try:
        os.rename(out, real)          # the folder moves away...
        os.symlink(outside, out)      # ...a link to the outside takes its place
        os.unlink(out)
        os.rename(real, out)          # and the real folder comes back
        n += 1
    except OSError:
        pass
print(n)
"""


@pytest.mark.skipif(os.name != "posix", reason="Windows keeps the documented window (no openat)")
@pytest.mark.parametrize("round_", range(3))
def test_a_folder_swapped_for_a_symlink_during_200_writes_gets_none_of_them_outside(
    tmp_path: Path, round_: int
) -> None:
    out, real, outside, stop = (
        tmp_path / "out",
        tmp_path / "out.real",
        tmp_path / "outside",
        tmp_path / "stop",
    )
    out.mkdir()
    outside.mkdir()
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(out), str(real), str(outside), str(stop)],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    written = refused = 0
    try:
        time.sleep(0.2)  # the swapper is looping before the first write
        for i in range(200):
            try:
                fsio.atomic_write_text(out / f"report-{i}.md", f"report {i}\n", durable=False)
                written += 1
            except OutputPathError as exc:
                assert f"report-{i}.md" in str(exc) and "\n" not in str(exc)
                refused += 1
    finally:
        stop.touch()
        swaps = int(swapper.communicate(timeout=60)[0] or 0)
    escaped = sorted(p.name for p in outside.iterdir())
    assert escaped == [], f"{len(escaped)} of 200 writes landed outside ({swaps} swaps): {escaped[:5]}"
    assert swaps > 0 and written + refused == 200
    # Every write reported ok is in the real folder (or in the one a write made while the real one
    # was moved away: the swapper cannot put it back over a folder that is not empty).
    landed = [p.name for d in (out, real) if d.is_dir() and not d.is_symlink() for p in d.iterdir()]
    assert len([n for n in landed if n.startswith("report-")]) == written


@pytest.mark.skipif(os.name != "posix", reason="POSIX no-follow")
def test_a_folder_that_is_a_symlink_is_refused_naming_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutputPathError) as info:
        fsio.atomic_write_text(tmp_path / "link" / "x.md", "x")
    assert str(info.value).startswith(f"{tmp_path / 'link' / 'x.md'}: cannot write: its folder")
    assert "symbolic link" in str(info.value) and list(outside.iterdir()) == []
    # A link further up the path is still followed (only the folder written into must be real).
    (outside / "sub").mkdir()
    assert fsio.atomic_write_text(tmp_path / "link" / "sub" / "y.md", "y").read_text(encoding="utf-8") == "y"


@pytest.mark.skipif(os.name != "posix", reason="POSIX no-follow")
def test_an_artifacts_folder_that_is_a_link_still_takes_its_default_trends_csv(tmp_path: Path) -> None:
    """`artifacts -> /mnt/bot/artifacts` is a common setup: the default <artifacts-dir>/trends.csv is
    resolved once where the user gave the folder, so the no-follow write lands in the real folder."""
    from conftest import sh

    real = tmp_path / "mnt" / "artifacts"
    (real / "s1").mkdir(parents=True)
    (real / "s1" / "summary.json").write_text('{"global_step": 5}', encoding="utf-8")
    (tmp_path / "artifacts").symlink_to(real, target_is_directory=True)
    bindir = os.path.dirname(sys.executable)
    done = sh(
        "ztb trends", {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}, tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert (real / "trends.csv").read_text(encoding="utf-8").startswith("session_id,")
