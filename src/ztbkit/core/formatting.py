"""Numbers and text as people read them: whole yen, untrusted text in a Markdown table cell, and
labels padded to line up in a terminal in any language."""

from __future__ import annotations

import math


def yen(amount: float) -> str:
    """Whole yen with thousands separators, halves rounded up: 1555.87 → ``¥1,556``.

    Any finite amount is shown, however large: rounding to an integral value is not bounded by the
    28-digit Decimal context that ``quantize`` is (a run priced at ¥1e30 raised InvalidOperation).
    A sum that overflowed a float shows as ``¥∞`` (``-¥∞``), NaN as ``¥—``: never an exception."""
    if math.isnan(amount):
        return "¥—"
    if math.isinf(amount):
        return "-¥∞" if amount < 0 else "¥∞"
    from decimal import ROUND_HALF_UP, Decimal  # on first use: an idle `ztb watch` shows no yen

    whole = int(Decimal(str(amount)).to_integral_value(rounding=ROUND_HALF_UP))
    return f"-¥{-whole:,}" if whole < 0 else f"¥{whole:,}"


def md_escape(text: str) -> str:
    """Untrusted text in a Markdown table cell: no table breaks (a ``|`` or a line break), no raw HTML.
    Runs of whitespace, line breaks included, become one space."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return " ".join(out.split())


def text_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: a full-width character (kanji, kana, ``（``) takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal columns, so Japanese labels line up too."""
    return text + " " * max(0, width - text_width(text))
