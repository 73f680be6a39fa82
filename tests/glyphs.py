"""Is the Japanese on a page drawn with real glyphs, or as tofu boxes? Checked in the real browser.

Two checks, both against tofu as this browser draws it (a character no font has, U+E000):

* ``glyph_report``: every distinct Japanese character of the page's text, drawn on a canvas in the
  computed font of the element that shows it (family, size, weight) once the page's fonts are loaded,
  must differ in pixels from tofu drawn in that font; distinct characters must draw distinctly.
* ``heading_differs_from_tofu``: the page itself, as laid out: a screenshot of each heading against
  the same heading with its Japanese replaced by U+E000. (Chromium can leave text laid out while a
  web font loads as tofu; only the laid-out page shows that.)
"""

from __future__ import annotations

from typing import Any

_JS = r"""
async () => {
  await document.fonts.ready;
  const isJa = c => { const o = c.codePointAt(0);
    return (o >= 0x2E80 && o <= 0x9FFF) || (o >= 0xF900 && o <= 0xFAFF) || (o >= 0xFF00 && o <= 0xFFEF); };
  const seen = new Map();  // font -> Set of chars
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || ["SCRIPT", "STYLE", "TEMPLATE"].includes(el.tagName)) continue;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden") continue;
    const font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    for (const c of n.textContent) if (isJa(c)) { if (!seen.has(font)) seen.set(font, new Set()); seen.get(font).add(c); }
  }
  const canvas = document.createElement("canvas"); canvas.width = 64; canvas.height = 64;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  const draw = (font, c) => { ctx.clearRect(0, 0, 64, 64); ctx.font = font.replace(/ \d+(\.\d+)?px /, " 32px ");
    ctx.fillStyle = "#000"; ctx.fillText(c, 8, 44); return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(","); };
  const out = {checked: 0, tofu: [], same: [], fonts: []};
  for (const [font, chars] of seen) {
    await document.fonts.load(font, Array.from(chars).join(""));
    const tofu = draw(font, "\uE000"), shapes = new Map();
    for (const c of chars) {
      const img = draw(font, c); out.checked++;
      if (img === tofu) out.tofu.push(c);
      else if (shapes.has(img)) out.same.push(shapes.get(img) + c); else shapes.set(img, c);
    }
    out.fonts.push(font);
  }
  return out;
}
"""


def glyph_report(page: Any) -> dict[str, Any]:
    """``{"checked": n, "tofu": [chars drawn as tofu], "same": [pairs drawn alike], "fonts": [...]}``."""
    result: dict[str, Any] = page.evaluate(_JS)
    return result


_TOFU_JS = r"""
el => { el.textContent = el.textContent.replace(/[\u2E80-\u9FFF\uF900-\uFAFF\uFF00-\uFFEF]/g, "\uE000"); }
"""


_MARK_JS = r"""
sel => { const el = Array.from(document.querySelectorAll(sel))
    .find(e => /[\u2E80-\u9FFF\uF900-\uFAFF\uFF00-\uFFEF]/.test(e.textContent));
  if (!el) return false; el.setAttribute("data-glyph-check", "1"); return true; }
"""


def heading_differs_from_tofu(page: Any, selector: str = "h1") -> bool:
    """The first ``selector`` with Japanese in it, as laid out, differs in pixels from itself with its
    Japanese as tofu (and there is one)."""
    page.evaluate("document.fonts.ready")
    assert page.evaluate(_MARK_JS, selector), f"no {selector} with Japanese on the page"
    el = page.locator("[data-glyph-check]").first
    shown = el.screenshot()
    el.evaluate(_TOFU_JS)
    tofu = el.screenshot()
    page.reload()
    return shown != tofu
