"""Help screens that wrap Japanese by what a terminal shows.

click wraps help with :mod:`textwrap`, which breaks lines only at spaces and counts characters: a
Japanese paragraph has no spaces and each of its characters takes two columns, so it would come
out as one line twice the terminal's width (or be cut inside a word where a wrapper must break a
long one). This formatter wraps any text with wide characters itself, by display width (East Asian
Wide and Fullwidth characters count two columns, as every terminal draws them), breaking between
characters, never before closing punctuation (、。」…: 行頭禁則) nor after an opening bracket
(「（: 行末禁則), and hands the
lines to click as a block it must not rewrap (click's ``\\b`` marker). Text without wide characters
goes to click untouched, so English help is exactly click's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import click

#: Characters a Japanese line must not start with (closing brackets and punctuation, small kana marks).
NO_LINE_START = frozenset(
    "、。，．,.)）]］」』】〕〉》・ー：:；;！!？?ぁぃぅぇぉっゃゅょァィゥェォッャュョ…%％"
)
#: Characters a line must not end with (opening brackets: 行末禁則); they move to the next line.
NO_LINE_END = frozenset("（「『【〔〈《([［")
#: Runs that stay together: a word of narrow characters (a flag, a path, a number), or one wide
#: character, or a run of spaces.
_TOKENS = re.compile(
    r"\s+|[^\s\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]+|."
)


def width_of(text: str) -> int:
    """The columns ``text`` takes on a terminal (wide and fullwidth characters two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def is_wide(text: str) -> bool:
    return any(unicodedata.east_asian_width(c) in "WF" for c in text)


def wrap_wide(text: str, width: int) -> list[str]:
    """``text`` (one paragraph) as lines of at most ``width`` columns, broken between any two wide
    characters or at spaces. A line never starts with :data:`NO_LINE_START` nor ends with
    :data:`NO_LINE_END`: the character before moves down with it (追い出し); where nothing can move
    (a narrow word alone on its line), the closing mark hangs past the edge (ぶら下げ). A narrow word
    longer than a line gets a line of its own."""
    lines: list[list[str]] = []
    line: list[str] = []
    used = 0  # columns taken by ``line``
    for token in _TOKENS.findall(" ".join(text.split())):
        if token.isspace():
            if line:
                line.append(" ")
                used += 1
            continue
        size = width_of(token)
        if not line or used + size <= width:
            line.append(token)
            used += size
            continue
        moved, kept = [token], list(line)
        # Move tokens down while the break would fall before a closing mark or after an opening one
        # (a space is a break of its own: it is dropped, not moved).
        while kept and kept[-1] == " ":
            kept.pop()
        while len(kept) > 1 and (moved[0][0] in NO_LINE_START or kept[-1][-1] in NO_LINE_END):
            moved.insert(0, kept.pop())
            while kept and kept[-1] == " ":
                kept.pop()
        if moved[0][0] in NO_LINE_START or all(t[-1] in NO_LINE_END for t in kept):
            # No legal break (the line is one long word, or only an opening bracket would stay): the
            # token hangs past the edge instead (ぶら下げ) rather than start a line with 。 or leave a
            # lone （ behind.
            line.append(token)
            used += size
            continue
        line = kept
        lines.append(line)
        line, used = moved, sum(map(width_of, moved))
    if line:
        lines.append(line)
    return ["".join(tokens).strip() for tokens in lines if "".join(tokens).strip()]


def _prewrapped(text: str, width: int) -> str:
    """Each paragraph of ``text`` that has wide characters wrapped to ``width`` and marked ``\\b`` (keep
    these lines); other paragraphs as they are."""
    out = []
    for par in text.split("\n\n"):
        if par.startswith("\b") or not is_wide(par):
            out.append(par)
        else:
            out.append("\b\n" + "\n".join(wrap_wide(par, max(width, 10))))
    return "\n\n".join(out)


class HelpFormatter(click.HelpFormatter):
    """click's formatter, with text that has wide characters wrapped by display width."""

    def write_text(self, text: str) -> None:
        super().write_text(_prewrapped(text, self.width - self.current_indent))

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        if not any(is_wide(second) for _first, second in rows):
            super().write_dl(rows, col_max, col_spacing)
            return
        # The same column arithmetic as click's write_dl, so the text lands where click puts it.
        first_col = min(max((len(click.unstyle(first)) for first, _ in rows), default=0), col_max)
        text_width = max(self.width - first_col - col_spacing - 2, 10)
        super().write_dl(_rows_prewrapped(rows, text_width), col_max, col_spacing)


def _rows_prewrapped(rows: Iterable[tuple[str, str]], width: int) -> list[tuple[str, str]]:
    return [(first, _prewrapped(second, width) if is_wide(second) else second) for first, second in rows]


class Context(click.Context):
    """click's context with :class:`HelpFormatter`."""

    formatter_class = HelpFormatter
