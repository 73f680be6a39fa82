"""#25: a short fuzz of compat (tests/fuzz_compat.py: rerun it longer by hand) finds no escape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzz_compat import fuzz


@pytest.mark.parametrize("seed", [25, 2025])
def test_a_fuzz_of_compat_finds_no_escape(tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # fuzz() points HOME and the cache folder at its sandbox and changes folder: all restored after.
    monkeypatch.setenv("HOME", os.environ.get("HOME", ""))
    monkeypatch.chdir(tmp_path)
    counts = fuzz(tmp_path / "sandbox", requests=60, seed=seed, timeout=90)
    assert counts.requests == 60 and counts.started > 0 and counts.refused > 0, counts
    assert counts.escapes == 0, counts.examples
