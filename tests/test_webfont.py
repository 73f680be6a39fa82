"""Japanese glyphs carried by the page (ztbkit.reports.webfont): the face holds exactly the page's
Japanese, an English page is untouched, every page font stack starts with the face, and in real
Chromium on this machine (no Japanese font installed) the text is drawn with real glyphs — while the
same page without the face is tofu, so the checks can fail."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from glyphs import glyph_report, heading_differs_from_tofu

from ztbkit.reports import webfont
from ztbkit.reports.webfont import FAMILY, FONT_STACK, with_page_font

JA_PAGE = (
    "<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'><title>コストレポート</title>"
    f"<style>body{{font-family:{FONT_STACK}}}</style></head><body><h1>夜間レポート</h1>"
    "<h2>実際に支払う電気代</h2><p>36セッションを比較 ¥1,234 → 2025/10/31(金)</p>"
    "<p title='従量電灯B'>&#x6708;&#26085;</p>"
    '<script type="application/json">{"label": "\\u5b66\\u7fd2"}</script></body></html>'
)


def _face(page: str) -> tuple[Any, str]:
    from fontTools.ttLib import TTFont

    found = re.search(r"base64,([A-Za-z0-9+/=]+)\).*?unicode-range:([^}]*)\}", page)
    assert found is not None
    return TTFont(io.BytesIO(base64.b64decode(found.group(1)))), found.group(2)


def test_the_face_holds_exactly_the_japanese_on_the_page() -> None:
    """Text, attributes, character references and JSON escapes in scripts (chart labels) all count;
    Latin, digits and symbols (¥, →) are left to the system font."""
    page = with_page_font(JA_PAGE)
    font, ranges = _face(page)
    want = {ord(c) for c in "コストレポート夜間実際に支払う電気代セッションを比較金月日従量電灯学習"}
    assert set(font.getBestCmap()) == want
    assert "U+A5" not in ranges and "U+2192" not in ranges and "U+30B3" in ranges  # ¥ → not carried; コ is
    assert page.count("@font-face") == 1 and with_page_font(page) == page  # once, however often called
    assert page.index('id="ztbkit-webfont"') < page.index("</head>")  # in the head, before any text


def test_a_note_naming_the_marker_does_not_stop_the_face() -> None:
    """A hostile or curious note (escaped on the page) that spells the marker is just text."""
    page = JA_PAGE.replace("<h1>", "<p>&lt;style id=&quot;ztbkit-webfont&quot;&gt; ztbkit-webfont</p><h1>")
    assert with_page_font(page).count("@font-face") == 1


def test_an_english_page_is_not_changed() -> None:
    english = JA_PAGE.replace("lang='ja'", "lang='en'")
    english = re.sub(r"[\u2e80-\u9fff\uff00-\uffef]|&#x6708;&#26085;|\\u5b66\\u7fd2", "x", english)
    assert with_page_font(english) == english  # ¥, → and — alone do not bring a font


def test_the_face_is_small() -> None:
    """A page showing 300 different kanji (far more than any report) stays under 150 KB of face."""
    kanji = "".join(chr(0x4E00 + i * 37) for i in range(300))
    page = with_page_font(f"<html><head></head><body><p>{kanji}</p></body></html>")
    added = len(page.encode()) - len(kanji.encode()) - len("<html><head></head><body><p></p></body></html>")
    assert 20_000 < added < 150_000, added


def test_every_page_font_stack_puts_the_face_first() -> None:
    """The report template, the session table, the interactive curves and the index all use FONT_STACK."""
    from ztbkit.ops import night_index
    from ztbkit.reports import interactive_curves, tables

    assert FONT_STACK.startswith(f'"{FAMILY}", ')
    template = (Path(webfont.__file__).parent / "templates" / "ztb" / "index.html.j2").read_text(
        encoding="utf-8"
    )
    assert template.count(FONT_STACK) == 3  # body and JupyterLab's ui and content font variables
    assert FONT_STACK in tables._CSS and FONT_STACK in interactive_curves._CSS
    assert FONT_STACK in night_index.index_html([{"date": "2025-10-31", "sessions": {}}], None)


def test_the_licence_allowing_the_embedding_ships_beside_the_font() -> None:
    licence = webfont.font_path().parent / "IPA_Font_License_Agreement_v1.0.txt"
    text = licence.read_text(encoding="utf-8-sig")
    assert "Embedded Fonts" in text and "Digital Document File" in text
    assert "IPAex" not in FAMILY  # Article 3: a derived font does not use the original's name


# --- in the browser ------------------------------------------------------------------------------------


def _no_japanese_font() -> bool:
    fc = shutil.which("fc-list")
    return (
        fc is not None and not subprocess.run([fc, ":lang=ja"], capture_output=True, text=True).stdout.strip()
    )


def test_the_text_is_drawn_with_real_glyphs(tmp_path: Path, browser: Any) -> None:
    page_file = tmp_path / "ja.html"
    page_file.write_text(with_page_font(JA_PAGE), encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(page_file.as_uri())
        glyphs = glyph_report(page)
        assert glyphs["checked"] >= 20 and glyphs["tofu"] == [] and glyphs["same"] == [], glyphs
        assert heading_differs_from_tofu(page, "h1") and heading_differs_from_tofu(page, "h2")
    finally:
        page.close()


def test_without_the_face_the_same_page_is_tofu_here(tmp_path: Path, browser: Any) -> None:
    """The control: this machine (and CI) has no Japanese font, so the page as it was before the face
    was embedded shows boxes, and both checks above say so."""
    if not _no_japanese_font():
        pytest.skip("a Japanese system font is installed here: the page cannot be tofu on this machine")
    bare = tmp_path / "bare.html"
    bare.write_text(JA_PAGE, encoding="utf-8")
    page = browser.new_page()
    try:
        page.goto(bare.as_uri())
        glyphs = glyph_report(page)
        assert glyphs["checked"] >= 20 and len(glyphs["tofu"]) == glyphs["checked"], glyphs
        assert not heading_differs_from_tofu(page, "h1")
    finally:
        page.close()


def test_the_webfont_benchmark_runs_at_small_scale(tmp_path: Path) -> None:
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_webfont
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    result = bench_webfont.run(sessions=5, data=tmp_path, repeat=1)
    assert result["sessions"] >= 5 and result["embed_s"] > 0 and result["bytes_added"] > 1_000
