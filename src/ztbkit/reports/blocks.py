"""The pieces every report page is made of: blocks with an HTML and a Markdown form, figures,
the problems list, and the JupyterLab widgets (session picker, ``interact``)."""

from __future__ import annotations

import html
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from ztbkit.core.clock import default_tz
from ztbkit.core.formatting import md_escape
from ztbkit.data.session import Session
from ztbkit.locale import N_, _, ngettext
from ztbkit.reports.notebooks import HEADLESS_ENV

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True, slots=True)
class Block:
    """Output with an HTML and a Markdown form; IPython sends both, each exporter picks its own."""

    html: str
    markdown: str

    def _repr_html_(self) -> str:
        return self.html

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        # This is the text/plain copy in every notebook output: a short one, not the table again.
        first = self.markdown.strip().splitlines()[0] if self.markdown.strip() else ""
        return first[:120] + (" …" if len(first) > 120 or "\n" in self.markdown.strip() else "")


def heading(text: str, level: int = 1) -> Block:
    return Block(f"<h{level}>{html.escape(text)}</h{level}>", f"{'#' * level} {md_escape(text)}\n")


def note(text: str) -> Block:
    return Block(f"<p>{html.escape(text)}</p>", md_escape(text) + "\n")


def figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def display_items(*items: Any) -> None:
    from IPython.display import Image, display

    for item in items:
        if hasattr(item, "savefig"):
            titles = [ax.get_title() for ax in item.axes if ax.get_title()]
            alt = "; ".join(titles) or _("chart")
            display(Image(data=figure_png(item), format="png", metadata={"alt": alt}))
        else:
            display(item)


def markdown_only(*figs: Figure) -> None:
    """Figures for the .md export only: the HTML form is an empty comment (HTML pages show SVG)."""
    import base64

    from IPython.display import display

    for fig in figs:
        png = base64.b64encode(figure_png(fig)).decode("ascii")
        display(
            {"image/png": png, "text/html": "<!-- chart: linked SVG in the dashboard above -->"}, raw=True
        )


def issues_block(problems: Sequence[Any], limit: int = 20) -> Block | None:
    if not problems:
        return None
    shown = [str(p) for p in problems[:limit]]
    more = _(" … and {n} more").format(n=len(problems) - limit) if len(problems) > limit else ""
    items = "".join(f"<li>{html.escape(t)}</li>" for t in shown)
    count = ngettext("{n} artifact problem", "{n} artifact problems", len(problems)).format(n=len(problems))
    return Block(
        f"<details><summary>{html.escape(count)}{html.escape(more)}</summary><ul>{items}</ul></details>",
        f"**{count}**{more}\n\n" + "".join(f"- {md_escape(t)}\n" for t in shown),
    )


def in_range(s: Session, start: date | None, end: date | None) -> bool:
    if start is None and end is None:
        return True
    if s.start_time is None:
        return False
    day = s.start_time.astimezone(default_tz()).date()
    return (start is None or day >= start) and (end is None or day <= end)


#: The picker's "all sessions" entry. Its value is "", which no session id can be (ids are folder names).
ALL = (N_("(all sessions)"), "")


def session_picker(ids: Sequence[str]) -> Any:
    """A multi-select of sessions with "(all sessions)" first, and chosen."""
    import ipywidgets as widgets

    return widgets.SelectMultiple(
        options=[(_(ALL[0]), ALL[1]), *((i, i) for i in ids)], value=("",), description=_("Sessions"), rows=7
    )


def picked(session_id: str, selected: Sequence[str]) -> bool:
    """Nothing chosen, or "(all sessions)" among the choices, means every session."""
    return not selected or "" in selected or session_id in selected


def interact(controls: dict[str, Any], render: Callable[..., None]) -> None:
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.interactive_output(render, controls)
    display(widgets.HBox(list(controls.values())), out)


def markdown_to_html(md: str) -> str:
    """Render the simple Markdown our reports emit (headings, paragraphs, pipe tables) as HTML."""
    out: list[str] = []
    rows: list[list[str]] = []

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in line.strip().strip("|").split(" | ")]

    def flush() -> None:
        if rows:
            head, body = rows[0], rows[2:]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
                       + "</tbody></table>")  # fmt: skip
            rows.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            rows.append(cells(line))
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def _inline(text: str) -> str:
    """Markdown cell text → HTML. Our Markdown escapes &, < and > already; ** marks bold."""
    parts = text.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def widgets_wanted(interactive: bool) -> bool:
    """``interactive`` as it can be honoured here. In a headless run (the report runner sets
    ``ZTB_HEADLESS=1``) nobody can use a widget and an exported page would hold only its placeholder
    text: ``interactive=True`` is then ignored with a one-line note and the static report follows."""
    if interactive and os.environ.get(HEADLESS_ENV) == "1":
        display_items(note(_("interactive = True is ignored in a headless run (nightly, ztb report): this is "
                             "the static report. Widgets work in JupyterLab (ztb lab).")))  # fmt: skip
        return False
    return interactive


def annotations_block(sessions: Sequence[Session]) -> Block | None:
    """The user's tags and notes (``ztb tag`` / ``ztb note``) of ``sessions`` as a small table, the
    live run first; None when no session has any. The reports without a session table show it."""
    rows = sorted(
        (s for s in sessions if s.tags or s.notes), key=lambda s: ("live" not in s.tags, s.session_id)
    )
    if not rows:
        return None
    cells = [(s.session_id, ", ".join(s.tags), " | ".join(s.notes)) for s in rows]
    body = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
                   for a, b, c in cells)  # fmt: skip
    md = ["## Tags and notes", "", "| ID | Tags | Notes |", "|---|---|---|"]
    md += [f"| {md_escape(a)} | {md_escape(b) or '—'} | {md_escape(c) or '—'} |" for a, b, c in cells]
    return Block(
        "<h2>Tags and notes</h2><table class='ztb-notes'><thead><tr><th>ID</th><th>Tags</th><th>Notes</th>"
        f"</tr></thead><tbody>{body}</tbody></table>",
        "\n".join(md) + "\n",
    )
