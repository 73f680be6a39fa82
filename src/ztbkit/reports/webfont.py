"""Japanese glyphs carried by the page itself: every HTML report that shows Japanese embeds the glyphs
it uses, so it never shows tofu boxes, even on a machine with no Japanese font (a fresh Linux box, CI).

Policy users depend on:

* A page whose text has any Japanese (kana, kanji, the full-width forms, CJK punctuation: a Japanese
  report, or an English one showing a note written in Japanese) gets one ``@font-face`` whose source is
  a ``data:`` URL: IPAex Gothic (the font ``matplotlib-fontja`` installs for the charts) cut down with
  fontTools to exactly the Japanese characters on that page, as WOFF. Nothing is fetched at view time;
  the page still opens offline, from an e-mail attachment, or from object storage.
* A page with no Japanese is not changed (an English report stays byte-for-byte what it was).
* The embedded face is first in the font stack, and its ``unicode-range`` is exactly the Japanese
  characters it carries, so Latin text, digits and symbols (``¥``, ``→``) still come from the system
  font and Japanese text is IPAex Gothic on every machine, the same face as the charts. Placing it after
  the system's Japanese fonts (Yu Gothic UI, Hiragino, Noto Sans CJK) would have been nicer on a
  desktop that has them, but Chromium does not reliably fall back to a web font listed after fonts
  that are missing: on a machine without Japanese fonts headings and the first lines of Japanese
  stayed tofu (tried; tests/test_webfont.py renders both ways). Correct glyphs everywhere won.
* Licence: the IPA Font License v1.0 lets a font be embedded in a document (a "Digital Document
  File") and that document be copied and shared with no further obligation, as long as the embedded
  font only renders that document (Article 2, paragraphs 2, 3 and 5). The face is named
  ``ztbkit JP`` rather than anything containing "IPAex", as Article 3 asks of derived fonts.
* Cost: about 0.3 s and 20–60 KB (base64) per Japanese page; measured in docs/performance.md.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
from collections.abc import Iterable
from pathlib import Path

#: The CSS family name of the embedded face (not "IPAex…": the licence reserves that name).
FAMILY = "ztbkit JP"
#: The page font stack: the embedded face first (its unicode-range is only the page's Japanese), then
#: the system's fonts, Japanese-capable ones included for a page whose face could not be made.
FONT_STACK = (
    f'"{FAMILY}", system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Hiragino Kaku Gothic ProN", '
    '"Yu Gothic UI", "Meiryo", "Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", sans-serif'
)
#: Marks the style element, so a page is never given a second face.
MARKER = "ztbkit-webfont"

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def is_japanese(ch: str) -> bool:
    """Kana, kanji, CJK symbols and punctuation, the full-width and half-width forms."""
    o = ord(ch)
    return 0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF or 0x20000 <= o <= 0x2FFFF


def page_characters(page: str) -> set[str]:
    """Every non-ASCII character a browser may draw from ``page``: its text, attributes, character
    references (``&#12354;``) and the ``\\uXXXX`` escapes of JSON inside scripts (chart labels)."""
    chars = set(html.unescape(page))
    chars.update(chr(int(h, 16)) for h in _ESCAPE.findall(page))
    return {c for c in chars if ord(c) > 0x7F and c.isprintable()}


@functools.cache
def font_path() -> Path:
    """IPAex Gothic as ``matplotlib-fontja`` installs it."""
    import matplotlib_fontja

    return Path(matplotlib_fontja.__file__).resolve().parent / "fonts" / "ipaexg.ttf"


@functools.cache
def _cmap() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(font_path(), lazy=True) as f:
        return frozenset(f.getBestCmap())


def subset_woff(chars: Iterable[str]) -> tuple[bytes, list[int]]:
    """IPAex Gothic cut down to the Japanese among ``chars`` (those it has), as WOFF bytes; and the
    code points kept."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    points = sorted({ord(c) for c in chars if is_japanese(c)} & _cmap())
    options = subset.Options()
    options.flavor = "woff"  # zlib: WOFF2 would need brotli, which is not installed with matplotlib
    options.hinting = False  # browsers hint CJK outlines themselves; the hints would double the size
    options.notdef_outline = True
    with TTFont(font_path(), lazy=True) as font:
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=points)
        subsetter.subset(font)
        buf = io.BytesIO()
        font.save(buf)
    return buf.getvalue(), points


def _ranges(points: list[int]) -> str:
    out: list[str] = []
    start = prev = points[0]
    for p in [*points[1:], -1]:
        if p == prev + 1:
            prev = p
            continue
        out.append(f"U+{start:X}" if start == prev else f"U+{start:X}-{prev:X}")
        start = prev = p
    return ",".join(out)


def font_face_css(chars: Iterable[str]) -> str:
    """The ``@font-face`` rule (empty when the font has none of the Japanese in ``chars``)."""
    woff, points = subset_woff(chars)
    if not points:
        return ""
    data = base64.b64encode(woff).decode("ascii")
    return (
        f'@font-face{{font-family:"{FAMILY}";src:url(data:font/woff;base64,{data}) format("woff");'
        f"font-display:block;unicode-range:{_ranges(points)}}}"
    )


def with_page_font(page: str) -> str:
    """``page`` with the Japanese glyphs it uses embedded (see the module docstring); unchanged when
    it has no Japanese or already carries the face."""
    if f'<style id="{MARKER}">' in page:  # the tag itself: user text (escaped) can never spell it
        return page
    chars = page_characters(page)
    if not any(is_japanese(c) for c in chars):
        return page
    css = font_face_css(chars)
    if not css:
        return page
    style = f'<style id="{MARKER}">{css}</style>'
    at = page.lower().find("</head>")
    return page[:at] + style + page[at:] if at >= 0 else style + page
