"""The dashboard table as HTML and Markdown (the browser behaviour is in test_dashboard_browser.py)."""

from __future__ import annotations

import re

import pytest
from conftest import MakeTree

from ztbkit import load_artifacts
from ztbkit.reports.dashboard import eta_text, session_table_html, session_table_markdown
from ztbkit.reports.tables import PAGE_ROWS


@pytest.mark.parametrize(
    ("eta", "shown"),
    [("15909s", "4h 25m"), ("100s", "2m"), ("90000s", "1d 1h"), ("3h", "3h"), ("2025-10-01T12:00:00", "2025-10-01T12:00:00"),
     (None, ""), ("", "")],
)  # fmt: skip
def test_eta_text(eta: str | None, shown: str) -> None:
    assert eta_text(eta) == shown


def test_table_escapes_and_keeps_raw_sort_keys(make_tree: MakeTree) -> None:
    index = {
        "sessions": [
            {"correlation_id": '<img src=x onerror="alert(1)">'},
            {"correlation_id": "a", "status": "<b>odd</b>"},
        ]
    }
    root = make_tree({"a": {"summary.json": {"global_step": 1234567, "rl_sharpe": 0.123456}}}, index=index)
    html = session_table_html(load_artifacts(root).sessions)
    assert "<img src=x" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert (
        "&lt;b&gt;odd&lt;/b&gt;" in html and 'class="st st-unknown"' in html
    )  # unknown statuses get no class of their own
    assert '<td class="num" data-v="1234567">1,234,567</td>' in html  # sorted by the number, shown formatted
    assert '<td class="num" data-v="0.123456">0.123</td>' in html
    md = session_table_markdown(load_artifacts(root).sessions)
    assert "| a | " in md and "&lt;img" in md and "<img" not in md


def test_big_tables_keep_a_page_in_the_dom(make_tree: MakeTree) -> None:
    root = make_tree({f"s{i:04d}": {} for i in range(PAGE_ROWS + 20)})
    html = session_table_html(load_artifacts(root).sessions)
    body, _, rest = html.partition("</tbody></table>")
    assert (
        body.count("<tr class=") == PAGE_ROWS and rest.count("<tr class=") == 20
    )  # the rest as inert text the browser parses only when a sort or filter needs it
    assert '<script type="text/html" class="ztb-more">' in rest and re.search(r"\bpage=500\b", html)
    assert re.search(rf"\btotal={PAGE_ROWS + 20}\b", html)
