"""One run's cost estimate as a page a person reads (``ztb cost --out X.md``), in the current language.

Policy: every figure says what it is. *Electricity* and *cloud* are money actually paid (out of pocket);
*GPU time* is the user's notional rate (``--gpu-rate`` / ``GPU_RATE_JPY_PER_HOUR``, default ¥300 per
GPU-hour) putting a price on their own GPU's time, not money paid. The page shows both subtotals under
the total. The tariff is named as people know it (従量電灯B 40A), its file name beside it.
"""

from __future__ import annotations

from typing import Any

from ztbkit.core.formatting import md_escape, yen
from ztbkit.locale import N_, _

#: The figures of "where the figures come from", and their sources, for the catalogue.
FIGURES = (N_("duration"), N_("GPUs"), N_("power per GPU"), N_("energy"), N_("steps/sec"))
SOURCES = (N_("default"), N_("estimated"), N_("measured"), N_("override"), N_("unknown"))


def cost_markdown(estimate: Any) -> str:
    """The report for a :class:`ztbkit.money.costs.CostEstimate`."""
    e = estimate
    i, r, tariff = e.inputs, e.rates, e.tariff
    gpus = int(i.gpu_count.value or 0)
    tariff_name = tariff.shown_name if tariff.title else tariff.name
    rows = [
        (_("GPU time (notional: your rate, not money paid)"),
         _("{gpus} GPU × {hours} h × {rate}/h (--gpu-rate, GPU_RATE_JPY_PER_HOUR)").format(
             gpus=gpus, hours=f"{e.duration_hours:.2f}", rate=yen(r.gpu_rate_jpy_per_hour)), e.gpu_jpy),
        (_("Electricity (actually paid)"),
         _("{kwh} kWh, tariff {tariff}").format(kwh=f"{e.bill.kwh:.2f}", tariff=tariff_name), e.power_jpy),
        (_("Cloud (paid)"), f"{e.duration_hours:.2f} h × {yen(r.cloud_rate_jpy_per_hour)}/h", e.cloud_jpy),
    ]  # fmt: skip
    lines = [
        "# " + _("Cost estimate: {id}").format(id=md_escape(i.correlation_id)),
        "",
        "| " + " | ".join([_("item"), _("basis"), _("yen")]) + " |",
        "|---|---|---:|",
    ]
    lines += [f"| {name} | {basis} | {yen(v)} |" for name, basis, v in rows]
    total = _("Total")
    lines += [f"| **{total}** | | **{yen(e.total_jpy)}** |", ""]
    lines += [
        _("Out of pocket (electricity + cloud): {paid}. Notional GPU time: {gpu}.").format(
            paid=yen(e.power_jpy + e.cloud_jpy), gpu=yen(e.gpu_jpy)
        ),
        "",
        _(
            "Marginal electricity cost on top of a {kwh} kWh household month: {marginal} (the bill above "
            "includes the {base} base fee)."
        ).format(
            kwh=f"{e.household_kwh:g}", marginal=yen(e.marginal_power_jpy), base=yen(e.bill.base_fee_jpy)
        ),
        "",
        "## "
        + _("Electricity bill ({tariff}, effective {date})").format(
            tariff=tariff_name if tariff_name == tariff.name else f"{tariff_name}, {tariff.name}",
            date=tariff.effective_date.isoformat(),
        ),
        "",
        "| " + " | ".join([_("line"), "kWh", "¥/kWh", _("yen")]) + " |",
        "|---|---:|---:|---:|",
        "| " + _("base fee") + f" | | | {yen(e.bill.base_fee_jpy)} |",
    ]
    lines += [f"| {ln.label} | {ln.kwh:.2f} | {ln.jpy_per_kwh:.2f} | {yen(ln.jpy)} |" for ln in e.bill.lines]
    lines += [
        "",
        "## " + _("Where the figures come from"),
        "",
        "| " + " | ".join([_("figure"), _("value"), _("source"), _("detail")]) + " |",
        "|---|---:|---|---|",
    ]
    for name, fig, fmt in (
        ("duration", i.duration_hours, "{:.2f} h"),
        ("GPUs", i.gpu_count, "{:g}"),
        ("power per GPU", i.gpu_watts, "{:g} W"),
        ("energy", i.energy_kwh, "{:.3f} kWh"),
        ("steps/sec", i.steps_per_sec, "{:.1f}"),
    ):
        shown = fmt.format(fig.value) if fig.value is not None else "—"
        label, source = _(name), _(fig.source)
        lines.append(f"| {label} | {shown} | {source} | {md_escape(fig.detail)} |")
    return "\n".join(lines) + "\n"
