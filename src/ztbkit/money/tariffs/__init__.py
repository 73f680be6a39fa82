"""Electricity tariffs as data: ``ztbkit/money/tariffs/<name>.toml`` (or any TOML file path).

A tariff is a monthly base fee, per-kWh tiers (a usage exactly on a tier edge is billed in the lower
tier) and optional per-kWh surcharge lines (e.g. 再エネ賦課金). Adding a 30A/50A/60A contract or a
surcharge is editing a file, not code. :meth:`Tariff.bill` is pure.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from ztbkit.core.charset import LEGACY_ENCODING, decode_text
from ztbkit.core.errors import N_, Reason, ZtbError, os_reason
from ztbkit.core.jsonread import open_regular
from ztbkit.core.values import is_finite_number, short_repr

#: A tariff file is a few hundred bytes; more than this is not a tariff.
MAX_TARIFF_BYTES = 1024 * 1024


class TariffError(ZtbError, ValueError):
    """A tariff name is unknown or its file is malformed."""


@dataclass(frozen=True, slots=True)
class Tier:
    lower_kwh: float
    upper_kwh: float | None  # None: no upper edge
    jpy_per_kwh: float

    @property
    def label(self) -> str:
        top = f"{self.upper_kwh:g}" if self.upper_kwh is not None else "∞"
        return f"{self.lower_kwh:g}–{top} kWh"


@dataclass(frozen=True, slots=True)
class BillLine:
    label: str
    kwh: float
    jpy_per_kwh: float
    jpy: float


@dataclass(frozen=True, slots=True)
class Bill:
    kwh: float
    base_fee_jpy: float
    lines: tuple[BillLine, ...]

    @property
    def total_jpy(self) -> float:
        return self.base_fee_jpy + sum(line.jpy for line in self.lines)


@dataclass(frozen=True, slots=True)
class Tariff:
    name: str
    description: str
    effective_date: date
    base_fee_jpy: float
    tiers: tuple[Tier, ...]
    surcharges: tuple[tuple[str, float], ...] = ()
    flat_rate: bool = False  # the single rate is set by --kwh-rate / KWH_RATE_JPY
    note: str = ""  # how the file was read, when worth saying (e.g. decoded as cp932)
    title: str = ""  # the name people know it by (従量電灯B 40A); pages show it, files keep ``name``

    @property
    def shown_name(self) -> str:
        """What a page calls this tariff: its ``title`` when the file gives one, else its ``name``."""
        return self.title or self.name

    def with_rate(self, jpy_per_kwh: float) -> Tariff:
        """A flat-rate tariff priced at ``jpy_per_kwh`` (only for ``flat_rate`` tariffs)."""
        if not self.flat_rate:
            raise TariffError(
                "tariff {name} has tiers; --kwh-rate applies only to a flat tariff", name=repr(self.name)
            )
        return replace(self, tiers=(Tier(0.0, None, jpy_per_kwh),))

    def bill(self, kwh: float) -> Bill:
        """The monthly bill for ``kwh`` (base fee, one line per tier used, one per surcharge)."""
        if not math.isfinite(kwh) or kwh < 0:
            raise TariffError("energy must be a non-negative number of kWh, got {kwh}", kwh=kwh)
        lines = []
        for tier in self.tiers:
            top = kwh if tier.upper_kwh is None else min(kwh, tier.upper_kwh)
            used = max(0.0, top - tier.lower_kwh)
            if used > 0 or tier is self.tiers[0]:
                lines.append(BillLine(tier.label, used, tier.jpy_per_kwh, used * tier.jpy_per_kwh))
        for name, rate in self.surcharges:
            lines.append(BillLine(name, kwh, rate, kwh * rate))
        return Bill(kwh, self.base_fee_jpy, tuple(lines))


def _number(doc: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = doc.get(key, default)
    if not is_finite_number(value) or value < 0:  # also an integer too large for a float (TOML allows it)
        raise TariffError(
            "{where}: {key} must be a non-negative number, got {value}",
            where=where,
            key=key,
            value=short_repr(value),
        )
    return float(value)


def parse_tariff(doc: dict[str, Any], where: str) -> Tariff:
    """Validate a tariff document (``where`` names it in errors)."""
    raw_tiers = doc.get("tiers")
    if not isinstance(raw_tiers, list) or not raw_tiers:
        raise TariffError("{where}: needs at least one [[tiers]] entry", where=where)
    tiers, lower = [], 0.0
    for i, t in enumerate(raw_tiers):
        if not isinstance(t, dict):
            raise TariffError("{where}: tiers[{i}] must be a table", where=where, i=i)
        rate = _number(t, "jpy_per_kwh", f"{where}: tiers[{i}]")
        last = i == len(raw_tiers) - 1
        if "up_to_kwh" in t:
            upper = _number(t, "up_to_kwh", f"{where}: tiers[{i}]")
            if upper <= lower:
                raise TariffError(
                    "{where}: tiers[{i}].up_to_kwh must be above {lower}",
                    where=where,
                    i=i,
                    lower=format(lower, "g"),
                )
        elif not last:
            raise TariffError(
                "{where}: tiers[{i}] needs up_to_kwh (only the last tier is open-ended)", where=where, i=i
            )
        else:
            upper = None
        if last and upper is not None:
            raise TariffError("{where}: the last tier must be open-ended (no up_to_kwh)", where=where)
        tiers.append(Tier(lower, upper, rate))
        lower = upper if upper is not None else lower
    surcharges = []
    for i, s in enumerate(doc.get("surcharges", [])):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            raise TariffError("{where}: surcharges[{i}] needs a name and jpy_per_kwh", where=where, i=i)
        surcharges.append((s["name"], _number(s, "jpy_per_kwh", f"{where}: surcharges[{i}]")))
    eff = doc.get("effective_date")
    if isinstance(eff, str):
        try:
            eff = date.fromisoformat(eff)
        except ValueError:
            raise TariffError(
                "{where}: effective_date {date} is not YYYY-MM-DD", where=where, date=repr(eff)
            ) from None
    if not isinstance(eff, date):
        raise TariffError("{where}: effective_date (YYYY-MM-DD) is required", where=where)
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise TariffError("{where}: name is required", where=where)
    return Tariff(
        name=name,
        description=str(doc.get("description", "")),
        effective_date=eff,
        base_fee_jpy=_number(doc, "base_fee_jpy", where, 0.0),
        tiers=tuple(tiers),
        surcharges=tuple(surcharges),
        flat_rate=bool(doc.get("flat_rate", False)),
        title=str(doc.get("title", "")),
    )


def available_tariffs() -> list[str]:
    """Names of the tariffs shipped with ztbkit."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def _read_tariff_file(path: Path) -> tuple[str, str]:
    """The text of a tariff file and a note on how it was decoded ("" for plain UTF-8)."""
    try:
        with open_regular(path) as fh:  # a FIFO here must not block the command
            data = fh.read(MAX_TARIFF_BYTES)
    except ZtbError as exc:
        raise TariffError("--tariff: {error}", error=exc) from None
    except OSError as exc:
        raise TariffError(
            "--tariff: cannot read {path}: {reason}", path=path, reason=os_reason(exc)
        ) from None
    try:
        text, legacy = decode_text(data)
    except UnicodeDecodeError as exc:
        raise TariffError(
            "{path}: not UTF-8 or {encoding} text (bad byte at offset {offset}); save it as UTF-8",
            path=path,
            encoding=LEGACY_ENCODING,
            offset=exc.start,
        ) from None
    if not legacy:
        return text, ""
    return text, Reason("{path}: not UTF-8, read as {encoding} (Windows ANSI); save it as UTF-8 to silence this",
                        path=path, encoding=legacy)  # fmt: skip


def load_tariff(name_or_path: str) -> Tariff:
    """A shipped tariff by name (``simple``, ``jp_residential_tiered``) or a TOML file by path.

    A file may start with a UTF-8 byte-order mark (Notepad writes one). A file that is not UTF-8 is
    read as cp932 (Notepad's "ANSI" on Japanese Windows) and the returned tariff's ``note`` says so.
    """
    note = ""
    if name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        text, note = _read_tariff_file(path)
        where = str(path)
    elif name_or_path in available_tariffs():
        text = resources.files(__name__).joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
        where = f"--tariff {name_or_path}"
    else:
        known = ", ".join(available_tariffs())
        raise TariffError(
            "--tariff: unknown tariff {name} (known: {known}, or a path to a .toml file)", name=repr(name_or_path),
            known=known,
        )  # fmt: skip
    try:
        doc = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, a 4300+ digit integer, deep nesting
        reason = str(exc).splitlines()[0] if str(exc) else N_("nested too deeply")
        raise TariffError("{where}: invalid TOML: {reason}", where=where, reason=reason) from None
    tariff = parse_tariff(doc, where)
    return replace(tariff, note=note) if note else tariff
