"""ztbkit.stats and ``ztb dsr``: the paper's example, hand computations, properties, bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ztbkit.analysis.stats import deflated_sharpe, expected_max_sharpe, min_track_record, moments, psr
from ztbkit.cli import cli
from ztbkit.core.errors import UsageError

Z95 = 1.6448536269514722  # Φ⁻¹(0.95), from tables; not from the code under test


def phi(z: float) -> float:
    """Standard normal CDF written out from erf, independent of statistics.NormalDist."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


PAPER = [
    "--sharpe",
    "2.5",
    "--observations",
    "1250",
    "--trials",
    "100",
    "--sharpe-variance",
    "0.5",
    "--skew",
    "-3",
    "--kurtosis",
    "10",
    "--periods-per-year",
    "250",
]


def test_paper_reference_case() -> None:
    """Bailey & López de Prado (2014), the worked example: DSR ≈ 0.9004, SR0 ≈ 1.789 annualised."""
    r = deflated_sharpe(2.5, 1250, 100, 0.5, skew=-3, kurtosis=10, periods_per_year=250)
    assert r.dsr == pytest.approx(0.9004, abs=5e-4)
    assert r.expected_max_sharpe == pytest.approx(1.789, abs=1e-3)
    # the same DSR by hand: per-period SR and SR0, raw kurtosis 10
    sr, sr0 = 2.5 / math.sqrt(250), 1.7894 / math.sqrt(250)
    z = (sr - sr0) * math.sqrt(1249) / math.sqrt(1 + 3 * sr + 9 / 4 * sr * sr)
    assert r.dsr == pytest.approx(phi(z), abs=2e-4)


def test_cli_reference_json_in_a_clean_shell() -> None:
    cmd = f"{sys.executable} -m ztbkit dsr {' '.join(PAPER)} --json"
    out = subprocess.run(
        ["/bin/sh", "-c", cmd],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        encoding="utf-8",
    )
    doc = json.loads(out.stdout)
    assert {"dsr", "psr_zero", "expected_max_sharpe", "min_track_record", "inputs"} <= set(doc)
    assert round(doc["dsr"], 4) == 0.9004 and round(doc["expected_max_sharpe"], 3) == 1.789
    assert doc["inputs"]["kurtosis"] == 10 and doc["inputs"]["periods_per_year"] == 250


@pytest.mark.parametrize(
    ("sr", "t", "bench", "skew", "kurt"),
    [
        (0.1, 500, 0.0, 0.0, 3.0),
        (0.05, 100, 0.02, -1.0, 6.0),
        (-0.05, 50, 0.0, 0.5, 4.0),
        (0.3, 2, 0.1, 0.0, 3.0),
    ],
)
def test_psr_matches_hand_computation(sr: float, t: float, bench: float, skew: float, kurt: float) -> None:
    z = (sr - bench) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert psr(sr, t, benchmark=bench, skew=skew, kurtosis=kurt) == pytest.approx(phi(z), abs=1e-12)


def test_min_track_record_matches_hand_computation_and_psr() -> None:
    sr, bench, skew, kurt = 0.12, 0.03, -0.5, 5.0
    expected = 1 + (1 - skew * sr + (kurt - 1) / 4 * sr**2) * (Z95 / (sr - bench)) ** 2
    got = min_track_record(sr, benchmark=bench, skew=skew, kurtosis=kurt)
    assert got == pytest.approx(expected, rel=1e-9)
    # its defining property: at T = MinTRL, PSR(benchmark) is exactly 95 %
    assert phi(
        (sr - bench) * math.sqrt(got - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    ) == pytest.approx(0.95)
    assert min_track_record(0.03, benchmark=0.03) == math.inf


def test_expected_max_sharpe_by_hand_for_n_2() -> None:
    # N = 2: Φ⁻¹(1/2) = 0 and Φ⁻¹(1 − 1/(2e)) by table lookup (1 − 0.18394 = 0.81606 → z = 0.90045)
    assert expected_max_sharpe(2, 4.0) == pytest.approx(2 * 0.5772156649 * 0.90045, abs=1e-4)
    assert expected_max_sharpe(1, 9.0) == 0.0


@pytest.mark.parametrize("n", [2, 5, 10, 50, 200, 1000])
def test_dsr_falls_as_trials_grow(n: int) -> None:
    a = deflated_sharpe(2.0, 1000, n, 0.5).dsr
    b = deflated_sharpe(2.0, 1000, n * 2, 0.5).dsr
    assert b < a


@pytest.mark.parametrize("v", [0.01, 0.1, 0.3, 1.0])
def test_dsr_falls_as_variance_grows(v: float) -> None:
    assert deflated_sharpe(2.0, 1000, 20, v * 1.5).dsr < deflated_sharpe(2.0, 1000, 20, v).dsr


@pytest.mark.parametrize("t", [10, 100, 500, 2000])
def test_psr_rises_with_observations(t: float) -> None:
    assert psr(0.05, t * 2, skew=-1, kurtosis=5) > psr(0.05, t, skew=-1, kurtosis=5)


def test_moments_against_hand_values() -> None:
    xs = [0.01, -0.02, 0.03, 0.0, 0.015, -0.005]
    n = len(xs)
    mean = sum(xs) / n
    sd = (sum((x - mean) ** 2 for x in xs) / (n - 1)) ** 0.5
    m2 = sum((x - mean) ** 2 for x in xs) / n
    m = moments(xs)
    assert m is not None and m.observations == 6
    assert m.sharpe == pytest.approx(mean / sd)
    assert m.skew == pytest.approx(sum((x - mean) ** 3 for x in xs) / n / m2**1.5)
    assert m.kurtosis == pytest.approx(sum((x - mean) ** 4 for x in xs) / n / m2**2)
    assert moments([1.0, 1.0, 1.0]) is None and moments([1.0, float("nan"), 2.0]) is None


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--observations", "1"], "observations"),
        (["--trials", "0"], "trials"),
        (["--sharpe-variance", "-1"], "sharpe-variance"),
        (["--sharpe", "nan"], "sharpe"),
        (["--kurtosis", "0.5"], "kurtosis"),
        (["--periods-per-year", "0"], "periods-per-year"),
        (["--sharpe", "inf"], "sharpe"),
        (["--trials", "9" * 400], "trials"),
        (["--trials", "10000000000000000"], "trials"),
        (["--sharpe", "1e300"], "sharpe"),
        (["--observations", "1e400"], "observations"),
        (["--skew", "50", "--sharpe", "20"], "skew"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], flag: str) -> None:
    base = dict(zip(PAPER[::2], PAPER[1::2], strict=True))
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    r = CliRunner().invoke(cli, ["dsr", *[x for kv in base.items() for x in kv]])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(r.stderr.strip().splitlines()) == 1 and flag in r.stderr


def test_library_errors_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="trials"):
        expected_max_sharpe(2.5, 1.0)
    with pytest.raises(UsageError, match="observations"):
        psr(0.1, float("inf"))


def test_text_output_names_each_number() -> None:
    r = CliRunner().invoke(cli, ["dsr", *PAPER])
    assert r.exit_code == 0 and "DSR" in r.stdout and "0.9004" in r.stdout and "1.7894 annualised" in r.stdout
