"""A priced run's electricity and how it is known: recorded in its cost file, estimated from
GPU-hours × board power, or unknown — never a silent 0 kWh (the cost page sums these)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ztbkit.core.values import amount_problem, is_finite_number
from ztbkit.data.session import Session
from ztbkit.locale import _
from ztbkit.money.costs import _gpu_model as gpu_model
from ztbkit.money.gpu_power import DEFAULT_GPU_WATTS, board_power_watts

__all__ = ["RunEnergy", "finite_amount", "run_energy"]


def finite_amount(value: Any, key: str | None = None) -> float | None:
    """``value`` as a float when it is a finite, non-negative number (and, for a ``key`` the one amount
    rule knows, :data:`ztbkit.core.values.AMOUNT_LIMITS`, not above its ceiling); else None."""
    if not is_finite_number(value) or value < 0:
        return None
    if key is not None and amount_problem(value, key) is not None:
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class RunEnergy:
    """A run's electricity and how it is known. ``kwh`` is None when it is *energy unknown*."""

    kwh: float | None
    source: str  # "recorded" (the cost file's power_kwh) | "estimated" | "unknown"
    detail: str


def run_energy(session: Session) -> RunEnergy:
    """Energy of a priced run, from what its cost file holds — never a silent 0 kWh.

    ztbkit's own cost file carries ``power_kwh`` (used as written). The older flat shape holds only
    ``gpu_hours`` (and ``total_cost_jpy``): its energy is *estimated* as GPU-hours × board power of
    the GPU model recorded in run_metadata (``ztbkit/gpu_power.toml``), else 300 W. A cost file
    with neither is *energy unknown*.
    """
    doc = session.cost_estimate or {}
    kwh = finite_amount(doc.get("power_kwh"), "power_kwh")
    if kwh is not None:
        return RunEnergy(kwh, "recorded", _("power_kwh in the cost file"))
    gpu_hours = finite_amount(doc.get("gpu_hours"), "gpu_hours")
    if gpu_hours is None:
        return RunEnergy(None, "unknown", _("the cost file has neither power_kwh nor gpu_hours"))
    model = gpu_model(session.run_metadata)
    watts = board_power_watts(model) if model else None
    how = _("board power of {model}").format(model=model) if watts is not None else _("no GPU model recorded")
    watts = watts if watts is not None else DEFAULT_GPU_WATTS
    detail = _("{hours} GPU-hours × {watts} W, {how}").format(
        hours=f"{gpu_hours:g}", watts=f"{watts:g}", how=how
    )
    return RunEnergy(gpu_hours * watts / 1000, "estimated", detail)
