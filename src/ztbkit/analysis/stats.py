"""Selection-aware Sharpe statistics: PSR, expected maximum Sharpe (SR0), DSR and MinTRL.

Formulas (all Sharpe ratios *per observation*, i.e. not annualised, inside this module's maths):

* Probabilistic Sharpe ratio, Bailey & López de Prado, "The Sharpe Ratio Efficient Frontier",
  Journal of Risk 15(2), 2012, eq. (11)::

      PSR(SR*) = Φ( (SR − SR*) · √(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²) )

  with T observations, γ3 the skewness and γ4 the **raw** kurtosis (3 for normal returns).
* Minimum track record length, same paper, eq. (12)::

      MinTRL = 1 + (1 − γ3·SR + (γ4 − 1)/4 · SR²) · (z_α / (SR − SR*))²

  observations needed before PSR(SR*) reaches the confidence α (infinite when SR ≤ SR*).
* Expected maximum Sharpe of N independent trials (the DSR benchmark SR0), Bailey & López de
  Prado, "The Deflated Sharpe Ratio", Journal of Portfolio Management 40(5), 2014, eq. (2)::

      SR0 = √V · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e)))

  with V the variance of the trials' Sharpe ratios and γ ≈ 0.5772 the Euler–Mascheroni constant.
* Deflated Sharpe ratio, same paper: ``DSR = PSR(SR0)``.

Annualisation convention (the one that reproduces the paper's worked example): the user gives SR
and V **annualised**; SR0 = √V·(…) is then an annualised Sharpe too, and both SR and SR0 are
de-annualised by dividing by √Q (Q periods per year) before entering PSR. Equivalently the per-period
variance of the trials' Sharpes is V/Q. With SR = 2.5, T = 1250, N = 100, V = 0.5, γ3 = −3, γ4 = 10,
Q = 250 this gives SR0 ≈ 1.789 annualised and DSR ≈ 0.9004, the paper's numbers.

N = 1 means no selection: SR0 is 0 and DSR = PSR(0). Every input is validated and a bad one
raises :class:`~ztbkit.core.errors.UsageError` naming it (the CLI prints one line and exits 2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from ztbkit.core.errors import UsageError
from ztbkit.core.values import is_finite_number

EULER_GAMMA = 0.5772156649015329
NORMAL = NormalDist()  # the standard library's normal CDF/inverse CDF is exact enough; no scipy needed
DEFAULT_PERIODS_PER_YEAR = 252.0
DEFAULT_CONFIDENCE = 0.95
MAX_TRIALS = 1e12  # beyond this 1 − 1/N rounds to 1 in floating point and Φ⁻¹ has no value


def _finite(name: str, value: float) -> float:
    try:
        number = float(value) if not isinstance(value, bool) and isinstance(value, int | float) else math.nan
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise UsageError("{name}: expected a finite number, got {value}", name=name, value=shown)
    return number


def _check_moments(skew: float, kurtosis: float) -> tuple[float, float]:
    skew = _finite("skew", skew)
    kurtosis = _finite("kurtosis", kurtosis)
    if kurtosis < 1:
        raise UsageError(
            "kurtosis: raw (non-excess) kurtosis is at least 1 (3 for normal returns), got {kurtosis}",
            kurtosis=kurtosis,
        )
    return skew, kurtosis


def _observations(t: float) -> float:
    t = _finite("observations", t)
    if t <= 1:
        raise UsageError("observations: need T > 1, got {t}", t=format(t, "g"))
    return t


def _variance_term(sr: float, skew: float, kurtosis: float) -> float:
    """1 − γ3·SR + (γ4 − 1)/4·SR²; must be positive for the PSR standard error to exist."""
    term = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if not math.isfinite(term):
        raise UsageError(
            "sharpe: {sr} per period is out of range with skew {skew}, kurtosis {kurtosis}",
            sr=format(sr, ".4g"),
            skew=format(skew, "g"),
            kurtosis=format(kurtosis, "g"),
        )
    if term <= 0:
        raise UsageError(
            "skew/kurtosis: 1 - skew*SR + (kurtosis-1)/4*SR^2 = {term} is not positive for SR {sr}",
            term=format(term, ".4g"),
            sr=format(sr, ".4g"),
        )
    return term


def psr(
    sr: float, observations: float, *, benchmark: float = 0.0, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Probabilistic Sharpe ratio: P(true SR > ``benchmark``) given an observed per-period ``sr``.

    Bailey & López de Prado (2012), eq. (11). ``sr`` and ``benchmark`` are per observation (not
    annualised); ``kurtosis`` is raw (3 = normal).
    """
    sr = _finite("sharpe", sr)
    benchmark = _finite("benchmark", benchmark)
    t = _observations(observations)
    skew, kurtosis = _check_moments(skew, kurtosis)
    z = (sr - benchmark) * math.sqrt(t - 1.0) / math.sqrt(_variance_term(sr, skew, kurtosis))
    return NORMAL.cdf(z)


def expected_max_sharpe(trials: float, variance: float) -> float:
    """Expected maximum Sharpe of ``trials`` independent trials whose Sharpes have ``variance``.

    Bailey & López de Prado (2014), eq. (2) (Euler–Mascheroni form). Same units as √variance: give
    an annualised variance, get an annualised SR0. N = 1 (no selection) gives 0.
    """
    n = _finite("trials", trials)
    v = _finite("sharpe-variance", variance)
    if n < 1 or n != math.floor(n) or n > MAX_TRIALS:
        raise UsageError(
            "trials: need a whole number 1 <= N <= {most}, got {trials}",
            most=format(MAX_TRIALS, ".0e"),
            trials=repr(trials),
        )
    if v < 0:
        raise UsageError("sharpe-variance: need V >= 0, got {v}", v=format(v, "g"))
    if n == 1:
        return 0.0
    return math.sqrt(v) * (
        (1 - EULER_GAMMA) * NORMAL.inv_cdf(1 - 1 / n) + EULER_GAMMA * NORMAL.inv_cdf(1 - 1 / (n * math.e))
    )


def min_track_record(
    sr: float,
    *,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> float:
    """Minimum track record length (observations) for PSR(``benchmark``) ≥ ``confidence``.

    Bailey & López de Prado (2012), eq. (12). Per-period Sharpes; ``math.inf`` when SR ≤ benchmark
    (no track record is long enough).
    """
    sr = _finite("sharpe", sr)
    benchmark = _finite("benchmark", benchmark)
    skew, kurtosis = _check_moments(skew, kurtosis)
    confidence = _finite("confidence", confidence)
    if not 0 < confidence < 1:
        raise UsageError(
            "confidence: need 0 < alpha < 1, got {confidence}", confidence=format(confidence, "g")
        )
    if sr <= benchmark:
        return math.inf
    z = NORMAL.inv_cdf(confidence)
    return 1.0 + _variance_term(sr, skew, kurtosis) * (z / (sr - benchmark)) ** 2


@dataclass(frozen=True, slots=True)
class DsrResult:
    """Everything ``ztb dsr`` reports; Sharpe-like fields annualised unless named ``*_per_period``."""

    dsr: float
    psr_zero: float
    expected_max_sharpe: float
    min_track_record: float | None  # observations for PSR(SR0) ≥ 95 %; None: SR ≤ SR0, never
    min_track_record_zero: float | None  # observations for PSR(0) ≥ 95 %
    inputs: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def deflated_sharpe(
    sharpe: float,
    observations: float,
    trials: float,
    sharpe_variance: float,
    *,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    periods_per_year: float = DEFAULT_PERIODS_PER_YEAR,
) -> DsrResult:
    """DSR of an **annualised** ``sharpe`` selected as the best of ``trials`` (Bailey & López de Prado 2014).

    ``sharpe_variance`` is the variance of the trials' annualised Sharpes; both are de-annualised by
    √``periods_per_year`` (see the module docstring). ``observations`` is T, the number of returns
    (periods) behind ``sharpe``. MinTRL is reported in observations at 95 % confidence.
    """
    sharpe = _finite("sharpe", sharpe)
    q = _finite("periods-per-year", periods_per_year)
    if q <= 0:
        raise UsageError("periods-per-year: need Q > 0, got {q}", q=format(q, "g"))
    t = _observations(observations)
    skew, kurtosis = _check_moments(skew, kurtosis)
    sr0_annual = expected_max_sharpe(trials, sharpe_variance)
    root_q = math.sqrt(q)
    sr, sr0 = sharpe / root_q, sr0_annual / root_q
    moments = {"skew": skew, "kurtosis": kurtosis}
    trl = min_track_record(sr, benchmark=sr0, **moments)
    trl0 = min_track_record(sr, benchmark=0.0, **moments)
    return DsrResult(
        dsr=psr(sr, t, benchmark=sr0, **moments),
        psr_zero=psr(sr, t, benchmark=0.0, **moments),
        expected_max_sharpe=sr0_annual,
        min_track_record=None if math.isinf(trl) else trl,
        min_track_record_zero=None if math.isinf(trl0) else trl0,
        inputs={
            "sharpe": sharpe,
            "observations": t,
            "trials": float(trials),
            "sharpe_variance": float(sharpe_variance),
            "skew": skew,
            "kurtosis": kurtosis,
            "periods_per_year": q,
        },
    )


@dataclass(frozen=True, slots=True)
class Moments:
    """Sample moments of a return series: per-period Sharpe (mean / sample std, ddof=1), skewness and
    raw kurtosis (population standardised moments, as in the papers), and T."""

    sharpe: float
    skew: float
    kurtosis: float
    observations: int

    def annualised_sharpe(self, periods_per_year: float) -> float:
        return self.sharpe * math.sqrt(periods_per_year)


def moments(returns: Iterable[float]) -> Moments | None:
    """Moments of the finite values of ``returns``; None with fewer than 3 of them or zero spread."""
    given = returns if isinstance(returns, list) else list(returns)
    xs: Sequence[float]
    if set(map(type, given)) <= {float}:  # the usual series: filtered in C, no per-item Python calls
        xs = list(filter(math.isfinite, given))
    else:
        xs = [float(x) for x in given if is_finite_number(x)]
    n = len(xs)
    if n < 3:
        return None
    mean = math.fsum(xs) / n
    dev = [x - mean for x in xs]
    m2 = math.fsum([d * d for d in dev]) / n
    if m2 <= 0 or not math.isfinite(m2):
        return None
    m3 = math.fsum([d**3 for d in dev]) / n
    m4 = math.fsum([d**4 for d in dev]) / n
    sample_std = math.sqrt(m2 * n / (n - 1))
    return Moments(sharpe=mean / sample_std, skew=m3 / m2**1.5, kurtosis=m4 / (m2 * m2), observations=n)
