"""Numbers, yen and dates as a reader of the current language expects them, formatted by Babel (CLDR
data), not by hand-made tables.

Policy:

* Yen are whole, halves rounded up, with thousands separators, in both languages: ``¥1,234`` (the
  ASCII yen sign, not CLDR's full-width one for ``ja``, so a page and an alert read the same).
  A total that overflowed a float reads ``¥∞``, NaN ``¥—`` (:func:`ztbkit.core.formatting.yen`).
* :func:`man_yen` is for totals a Japanese reader takes in at a glance: ``1.2万円`` from ¥10,000 up
  (one decimal), the exact ``¥1,234`` below; English always gets the exact form.
* Dates are days in Asia/Tokyo: ``2025/10/31(金)`` in Japanese, ``2025-10-31 (Fri)`` in English;
  :func:`report_day` keeps the plain ISO ``2025-10-31`` in English (what pages always showed).
* Months are keyed ``2025-10`` wherever a machine reads them; :func:`month_label` shows one as
  ``2025年10月`` in Japanese (CLDR ``yMMMM``) and as the key in English.
* :func:`amount` is a total as a reader takes it in: ``¥55,908`` in English, ``¥55,908（5.6万円）`` in
  Japanese from ¥10,000 up.
* Babel is imported at the first call, never when this module is imported.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from ztbkit.core.clock import default_tz
from ztbkit.core.formatting import yen as plain_yen
from ztbkit.locale import current_language

#: The Babel (CLDR) locale of each language.
BABEL_LOCALE = {"en": "en_US", "ja": "ja_JP"}
DATE_PATTERN = {"en": "yyyy-MM-dd (EEE)", "ja": "yyyy/MM/dd(E)"}


def _babel_locale(lang: str | None) -> str:
    return BABEL_LOCALE[lang or current_language()]


def number(value: float, decimals: int = 0, lang: str | None = None) -> str:
    """``value`` with the language's thousands separator and ``decimals`` places: ``12,345``."""
    from babel.numbers import format_decimal

    if not math.isfinite(value):
        return str(value)
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return str(format_decimal(value, format=pattern, locale=_babel_locale(lang)))


def yen(amount: float, lang: str | None = None) -> str:
    """Whole yen with separators: ``¥1,234`` (``-¥1,234``); ``¥∞``/``¥—`` for overflow and NaN."""
    from babel.numbers import format_currency

    if not math.isfinite(amount):
        return plain_yen(amount)
    whole = int(Decimal(str(amount)).to_integral_value(rounding=ROUND_HALF_UP))
    if abs(whole) >= 10**15:  # past what CLDR patterns format exactly: the plain integer form
        return plain_yen(amount)
    text = format_currency(whole, "JPY", format="¤#,##0", locale=_babel_locale(lang), currency_digits=False)
    return str(text).replace("￥", "¥")


def man_yen(amount: float, lang: str | None = None) -> str:
    """A total in the form that reads best: ``1.2万円`` (Japanese, ¥10,000 and up), else :func:`yen`."""
    from babel.numbers import format_compact_decimal

    chosen = lang or current_language()
    if chosen != "ja" or not math.isfinite(amount) or abs(amount) < 10_000 or abs(amount) >= 10**15:
        return yen(amount, chosen)
    return f"{format_compact_decimal(amount, format_type='short', locale='ja_JP', fraction_digits=1)}円"


def day(value: date | datetime, lang: str | None = None) -> str:
    """A day as the language writes it: ``2025/10/31(金)`` or ``2025-10-31 (Fri)`` (aware times in JST)."""
    from babel.dates import format_date

    chosen = lang or current_language()
    if isinstance(value, datetime):
        value = value.astimezone(default_tz()).date() if value.tzinfo else value.date()
    return str(format_date(value, DATE_PATTERN[chosen], locale=BABEL_LOCALE[chosen]))


def report_day(value: date, lang: str | None = None) -> str:
    """A day label on a page: ``2025/10/31(金)`` in Japanese, the ISO ``2025-10-31`` in English."""
    chosen = lang or current_language()
    return day(value, chosen) if chosen == "ja" else value.isoformat()


def month_label(key: str, lang: str | None = None) -> str:
    """A month as people read it, from its machine key ``2025-10`` (kept in CSV/JSON and as the page's
    choice): ``2025年10月`` in Japanese (CLDR's ``yMMMM`` skeleton, so Babel writes it, not a hand-made
    pattern), the key itself in English (what pages always showed). A key that is not ``YYYY-MM``
    (a hand-typed one) is shown as given."""
    from babel.dates import format_skeleton

    chosen = lang or current_language()
    try:
        first = date(int(key[:4]), int(key[5:7]), 1) if len(key) == 7 and key[4] == "-" else None
    except ValueError:
        first = None
    if chosen != "ja" or first is None:
        return key
    return str(format_skeleton("yMMMM", first, locale=BABEL_LOCALE[chosen]))


def amount(value: float, lang: str | None = None) -> str:
    """A total: exact yen, and in Japanese from ¥10,000 up its 万円 reading beside it."""
    chosen = lang or current_language()
    exact = yen(value, chosen)
    if chosen != "ja" or not math.isfinite(value) or abs(value) < 10_000 or abs(value) >= 10**15:
        return exact
    return f"{exact}（{man_yen(value, chosen)}）"
