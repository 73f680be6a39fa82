"""Chart text in any language: fonts (Japanese labels never render as tofu boxes) and tick labels
with thousands separators.

Policy: charts use DejaVu Sans (matplotlib's own, so English charts look as they always did) with
IPAex Gothic as the fallback for every glyph DejaVu lacks (kana, kanji, 円, the full-width forms).
IPAex Gothic comes from the ``matplotlib-fontja`` package on PyPI, so it is there on Linux, Windows and
macOS alike with no system font installed. Chosen over ``japanize-matplotlib`` because that one is
unmaintained (last release 2020) and breaks on Python 3.12+ (it imports ``distutils``); fontja is its
maintained successor with the same font and no system dependency.
Called by every function that draws a figure; cheap after the first call.
"""

from __future__ import annotations

from typing import Any

#: The chart font stack (matplotlib's per-glyph fallback, 3.6+).
FAMILY = ["DejaVu Sans", "IPAexGothic"]
_done: list[bool] = []


def chart_fonts() -> None:
    """Register the bundled Japanese font with matplotlib and make it the fallback; idempotent."""
    if _done:
        return
    import matplotlib
    import matplotlib_fontja  # noqa: F401  (registers IPAexGothic with matplotlib's font manager)

    matplotlib.rcParams["font.family"] = FAMILY
    _done.append(True)


def steps_axis(ax: Any, axis: str = "y") -> None:
    """Step counts with thousands separators (``1,200,000``), never ``1.2e6`` offset notation."""
    from matplotlib.ticker import FuncFormatter

    getattr(ax, f"{axis}axis").set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))


def yen_axis(ax: Any, axis: str = "y") -> None:
    """Money ticks with thousands separators: ``¥10,000``, never ``10000`` or ``1e4``."""
    from matplotlib.ticker import FuncFormatter

    getattr(ax, f"{axis}axis").set_major_formatter(FuncFormatter(lambda v, _pos: f"¥{v:,.0f}"))
