"""Cost model: what a training run cost in yen. Pure functions over small dataclasses, no I/O.

* GPU time: gpu_rate (JPY/h; ``--gpu-rate``, ``GPU_RATE_JPY_PER_HOUR``, default 300) × GPU-hours.
* Electricity: the tariff's bill for the run's kWh. ``simple`` = kWh × kwh_rate (``--kwh-rate``,
  ``KWH_RATE_JPY``, default 35); ``jp_residential_tiered`` = base fee + tiered prices. The *marginal*
  cost is also given: bill(household + run) − bill(household), ``--household-kwh`` default 0.
* Cloud: cloud_rate (JPY/h; ``--cloud-rate``, ``CLOUD_RATE_JPY_PER_HOUR``, default 0) × run hours.
* Flags beat environment variables beat defaults; a non-numeric or negative rate is a usage error
  naming the flag or variable. 0 is a valid rate.
* Every input figure says where it came from: ``measured`` (recorded by the run), ``estimated``
  (derived), ``override`` (given on the command line) or ``default``. A run with no duration is not
  priced at zero: :class:`CostUnavailableError` says what was looked for.

"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ztbkit.core.errors import UsageError, ZtbError
from ztbkit.core.values import is_finite_number
from ztbkit.data.session import Session
from ztbkit.money.gpu_power import DEFAULT_GPU_WATTS, board_power_watts
from ztbkit.money.tariffs import Bill, Tariff

DEFAULT_GPU_RATE = 300.0
DEFAULT_KWH_RATE = 35.0
DEFAULT_CLOUD_RATE = 0.0
DEFAULT_TARIFF = "simple"

RATE_SOURCES = {
    "gpu_rate": ("--gpu-rate", "GPU_RATE_JPY_PER_HOUR", DEFAULT_GPU_RATE),
    "kwh_rate": ("--kwh-rate", "KWH_RATE_JPY", DEFAULT_KWH_RATE),
    "cloud_rate": ("--cloud-rate", "CLOUD_RATE_JPY_PER_HOUR", DEFAULT_CLOUD_RATE),
}


class CostUnavailableError(ZtbError):
    """The run lacks what pricing needs (no duration, no run_metadata or summary): exit 1."""

    exit_code = 1


@dataclass(frozen=True, slots=True)
class Rates:
    gpu_rate_jpy_per_hour: float = DEFAULT_GPU_RATE
    kwh_rate_jpy: float = DEFAULT_KWH_RATE
    cloud_rate_jpy_per_hour: float = DEFAULT_CLOUD_RATE
    tariff: str = DEFAULT_TARIFF


def parse_rate(text: str | float, name: str) -> float:
    """A finite, non-negative number from ``text``; UsageError naming ``name`` otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UsageError("{name}: {text} is not a number", name=name, text=repr(text)) from None
    if not math.isfinite(value) or value < 0:
        raise UsageError("{name}: must be a non-negative number, got {text}", name=name, text=repr(text))
    return value


def resolve_rates(
    *,
    gpu_rate: str | float | None = None,
    kwh_rate: str | float | None = None,
    cloud_rate: str | float | None = None,
    tariff: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Rates:
    """Rates from flags, else environment variables, else defaults (flags beat env beat defaults)."""
    environ = os.environ if env is None else env
    given = {"gpu_rate": gpu_rate, "kwh_rate": kwh_rate, "cloud_rate": cloud_rate}
    values: dict[str, float] = {}
    for key, (flag, var, default) in RATE_SOURCES.items():
        flag_value = given[key]
        if flag_value is not None:
            values[key] = parse_rate(flag_value, flag)
        elif environ.get(var, "").strip():
            values[key] = parse_rate(environ[var].strip(), var)
        else:
            values[key] = default
    return Rates(values["gpu_rate"], values["kwh_rate"], values["cloud_rate"], tariff or DEFAULT_TARIFF)


@dataclass(frozen=True, slots=True)
class Figure:
    """A number and where it came from: measured, estimated, override or default."""

    value: float | None
    source: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class CostInputs:
    correlation_id: str
    duration_hours: Figure
    gpu_count: Figure
    gpu_watts: Figure
    energy_kwh: Figure
    steps_per_sec: Figure
    gpu_model: str | None = None


def _positive(value: Any) -> float | None:
    if not is_finite_number(value) or value <= 0:
        return None
    return float(value)


def _obj(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _gpu_model(rm: Mapping[str, Any]) -> str | None:
    for source in (rm, _obj(rm, "system"), _obj(_obj(rm, "payload"), "environment")):
        for key in ("gpu_model", "gpu", "gpu_name"):
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def derive_inputs(
    session: Session,
    *,
    hours: float | None = None,
    kwh: float | None = None,
    gpu_watts: float | None = None,
    tb_fps: float | None = None,
) -> CostInputs:
    """The cost inputs of ``session`` with their provenance; overrides win over what the run recorded."""
    rm = session.run_metadata
    # Steps per second: the summary's progress or metrics, else TensorBoard's time/fps — as copied into
    # metrics.json (tb_latest), else as read from the session's own event files (``tb_fps``).
    fps = _positive(_obj(session.metrics, "tb_latest").get("time/fps"))
    if session.steps_per_sec:
        sps = Figure(session.steps_per_sec, "measured", "summary progress / metrics steps ÷ elapsed")
    elif fps:
        sps = Figure(fps, "measured", "TensorBoard time/fps (metrics.json tb_latest)")
    elif tb_fps and tb_fps > 0:
        sps = Figure(tb_fps, "measured", "TensorBoard time/fps (event files)")
    else:
        sps = Figure(None, "unknown")

    if hours is not None:
        duration = Figure(hours, "override", "--hours")
    elif session.duration_seconds:
        derived = session.duration_source == "global_step/steps_per_sec"
        duration = Figure(session.duration_seconds / 3600, "estimated" if derived else "measured",
                          session.duration_source or "")  # fmt: skip
    elif session.global_step and sps.value:
        duration = Figure(session.global_step / sps.value / 3600, "estimated", f"global_step ÷ {sps.detail}")
    else:
        duration = Figure(None, "unknown")

    if session.gpu_count is not None and session.gpu_count > 0:
        gpus = Figure(float(session.gpu_count), "measured", "run_metadata.json:gpu_count")
    else:
        gpus = Figure(1.0, "default", "no gpu_count recorded; 1 GPU assumed")

    model = _gpu_model(rm)
    if gpu_watts is not None:
        watts = Figure(gpu_watts, "override", "--gpu-watts")
    elif model and (w := board_power_watts(model)) is not None:
        watts = Figure(w, "estimated", f"published board power of {model}")
    else:
        watts = Figure(DEFAULT_GPU_WATTS, "default", "per-GPU default (--gpu-watts to change)")

    measured_kwh = _positive(rm.get("energy_kwh"))
    if kwh is not None:
        energy = Figure(kwh, "override", "--kwh")
    elif measured_kwh is not None:
        energy = Figure(measured_kwh, "measured", "run_metadata.json:energy_kwh")
    elif duration.value is not None and gpus.value is not None and watts.value is not None:
        energy = Figure(duration.value * gpus.value * watts.value / 1000, "estimated",
                        f"{gpus.value:g} GPU × {watts.value:g} W × {duration.value:.2f} h")  # fmt: skip
    else:
        energy = Figure(None, "unknown")
    return CostInputs(session.session_id, duration, gpus, watts, energy, sps, model)


@dataclass(frozen=True, slots=True)
class CostEstimate:
    inputs: CostInputs
    rates: Rates
    tariff: Tariff
    bill: Bill
    household_kwh: float
    marginal_power_jpy: float
    generated_at: datetime | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_hours(self) -> float:
        return self.inputs.duration_hours.value or 0.0

    @property
    def gpu_hours(self) -> float:
        return self.duration_hours * (self.inputs.gpu_count.value or 0.0)

    @property
    def gpu_jpy(self) -> float:
        return self.gpu_hours * self.rates.gpu_rate_jpy_per_hour

    @property
    def power_jpy(self) -> float:
        return self.bill.total_jpy

    @property
    def cloud_jpy(self) -> float:
        return self.duration_hours * self.rates.cloud_rate_jpy_per_hour

    @property
    def total_jpy(self) -> float:
        return self.gpu_jpy + self.power_jpy + self.cloud_jpy

    def to_dict(self) -> dict[str, Any]:
        """The FORMATS.md cost estimate JSON, plus provenance and the electricity breakdown."""
        i = self.inputs
        return {
            "correlation_id": i.correlation_id,
            "duration_hours": round(self.duration_hours, 6),
            "gpu_count": int(i.gpu_count.value or 0),
            "gpu_hours": round(self.gpu_hours, 6),
            "power_kwh": round(self.bill.kwh, 6),
            "steps_per_sec": round(i.steps_per_sec.value, 3) if i.steps_per_sec.value else None,
            "costs": {
                "gpu_jpy": round(self.gpu_jpy, 2),
                "power_jpy": round(self.power_jpy, 2),
                "cloud_jpy": round(self.cloud_jpy, 2),
                "total_jpy": round(self.total_jpy, 2),
                "marginal_power_jpy": round(self.marginal_power_jpy, 2),
            },
            "rates": {
                "gpu_rate_jpy_per_hour": self.rates.gpu_rate_jpy_per_hour,
                "kwh_rate_jpy": self.rates.kwh_rate_jpy,
                "cloud_rate_jpy_per_hour": self.rates.cloud_rate_jpy_per_hour,
                "tariff": self.tariff.name,
            },
            "sources": {
                "duration_hours": i.duration_hours.to_dict(),
                "gpu_count": i.gpu_count.to_dict(),
                "gpu_watts": i.gpu_watts.to_dict(),
                "power_kwh": i.energy_kwh.to_dict(),
                "steps_per_sec": i.steps_per_sec.to_dict(),
            },
            "electricity": {
                "tariff": self.tariff.name,
                "effective_date": self.tariff.effective_date.isoformat(),
                "base_fee_jpy": self.bill.base_fee_jpy,
                "lines": [
                    {
                        "label": ln.label,
                        "kwh": round(ln.kwh, 6),
                        "jpy_per_kwh": ln.jpy_per_kwh,
                        "jpy": round(ln.jpy, 2),
                    }
                    for ln in self.bill.lines
                ],
                "household_kwh": self.household_kwh,
                "marginal_jpy": round(self.marginal_power_jpy, 2),
            },
            "gpu_model": i.gpu_model,
            "generated_at": self.generated_at.isoformat() if self.generated_at else None,
            "generator": "ztbkit",
        }

    def to_markdown(self) -> str:
        """A readable report in the current language; yen as ``¥1,556`` (:mod:`ztbkit.money.cost_report`)."""
        from ztbkit.money.cost_report import cost_markdown

        return cost_markdown(self)


def estimate_cost(
    inputs: CostInputs,
    rates: Rates,
    tariff: Tariff,
    *,
    household_kwh: float = 0.0,
    generated_at: datetime | None = None,
) -> CostEstimate:
    """Price ``inputs``. Raises CostUnavailableError when the run has no duration or energy."""
    if inputs.duration_hours.value is None:
        raise CostUnavailableError(
            "no duration for session {session}: looked for run_metadata.json duration_seconds, summary.json "
            "wall_clock_duration_hours, metrics.json wall_clock_duration/elapsed_time and global_step ÷ "
            "steps/sec; pass --hours to price it anyway", session=repr(inputs.correlation_id),
        )  # fmt: skip
    if inputs.energy_kwh.value is None:
        raise CostUnavailableError(
            "no energy figure for session {session}; pass --kwh", session=repr(inputs.correlation_id)
        )
    if not math.isfinite(household_kwh) or household_kwh < 0:
        raise UsageError("--household-kwh: must be a non-negative number, got {kwh}", kwh=household_kwh)
    priced = tariff.with_rate(rates.kwh_rate_jpy) if tariff.flat_rate else tariff
    kwh = inputs.energy_kwh.value
    bill = priced.bill(kwh)
    marginal = priced.bill(household_kwh + kwh).total_jpy - priced.bill(household_kwh).total_jpy
    estimate = CostEstimate(inputs, rates, priced, bill, household_kwh, marginal, generated_at)
    # Refused before anything is written: inf/NaN is not JSON, and a bill of ¥inf helps no one.
    bad = _non_finite(estimate.to_dict())
    if bad:
        raise UsageError(
            "the estimate is not a finite number ({bad}): an input is too large (kWh {kwh}, hours {hours}, "
            "rates {rates} JPY); nothing written", bad=bad, kwh=format(kwh, "g"),
            hours=format(inputs.duration_hours.value, "g"),
            rates="/".join(format(r, "g") for r in (rates.gpu_rate_jpy_per_hour, rates.kwh_rate_jpy,
                                                    rates.cloud_rate_jpy_per_hour)),
        )  # fmt: skip
    return estimate


def _non_finite(value: Any, where: str = "") -> str | None:
    """The key path of the first non-finite number in ``value``, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "value"
    if isinstance(value, dict):
        for k, v in value.items():
            if (found := _non_finite(v, f"{where}.{k}" if where else str(k))) is not None:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            if (found := _non_finite(v, f"{where}[{i}]")) is not None:
                return found
    return None
