"""The dashboard page in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import REPO

from ztbkit.data.demo import build_demo
from ztbkit.reports.runner import render_notebook

EVIL = "<script>alert(1)</script>"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("dash")
    build_demo(root, sessions=24)
    index = json.loads((root / "artifacts" / "index.json").read_text(encoding="utf-8"))
    index["sessions"].append({"correlation_id": EVIL, "status": "running", "latest_step": 1})
    (root / "artifacts" / "index.json").write_text(json.dumps(index), encoding="utf-8")
    result = render_notebook(
        "dashboard", artifacts_dir=root / "artifacts", out_dir=root / "out", formats=("html",)
    )
    assert result.status == "ok", result.error
    return (root / "out" / "dashboard.html").as_uri()


def column(page: Any, title: str) -> list[str]:
    idx = page.eval_on_selector_all(
        "table.ztb-sessions th", f"hs => hs.findIndex(h => h.textContent.startsWith({title!r}))"
    )
    return page.eval_on_selector_all(
        "table.ztb-sessions tbody tr",
        f"rs => rs.filter(r => r.style.display !== 'none').map(r => r.cells[{idx}].textContent)",
    )


def test_dashboard_in_chromium(browser: Any, page_url: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    external: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(page_url)
    assert page.title() == "Zaif Trade Bot Dashboard"
    assert page.inner_text("h1") == "Zaif Trade Bot Dashboard"

    ids = column(page, "ID")
    assert len(ids) == 24 + 2  # 24 demo folders + the pruned index entry, and the <script> session
    assert EVIL in ids and dialogs == []  # shown as text, never run
    assert page.inner_text(".ztb-count") == f"{len(ids)} sessions"

    page.click("th:has-text('Sharpe')")
    sharpe = column(page, "Sharpe")
    values = [float(v) for v in sharpe if v]
    assert values == sorted(values) and sharpe[-1] == "" and sharpe.index("") == len(values)  # blanks last
    page.click("th:has-text('Sharpe')")
    desc = [float(v) for v in column(page, "Sharpe") if v]
    assert desc == sorted(desc, reverse=True) and len(desc) == len(values)
    assert page.get_attribute("th:has-text('Sharpe')", "aria-sort") == "descending"

    # At 1280 px the money columns are in view without scrolling; the ID column stays put.
    for title in ("GPU-hours", "Cost (¥)"):
        box = page.locator(f"th[title='{title}']").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280, (title, box)

    shown = "els => els.filter(e => e.style.display !== 'none').length"
    groups = {g: page.eval_on_selector_all(f"g[id='{g}'] > g > *", shown)
              for g in ("ztb-progress-0", "ztb-progress-1", "ztb-rl_sharpe")}  # fmt: skip
    assert groups["ztb-progress-0"] > 0 and groups["ztb-progress-1"] > 0 and groups["ztb-rl_sharpe"] > 0
    page.fill("input.ztb-filter", "running")
    running = column(page, "Status")
    assert running and set(running) == {"running"} and len(running) < len(ids)
    assert page.inner_text(".ztb-count") == f"{len(running)} of {len(ids)} sessions match"
    # The same filter drives the charts: only running sessions' points are left.
    assert page.eval_on_selector_all("g[id='ztb-progress-0'] > g > *", shown) == 0
    assert 0 < page.eval_on_selector_all("g[id='ztb-progress-1'] > g > *", shown) <= len(running)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-filtered.png"), full_page=True)
    page.fill("input.ztb-filter", "")
    assert len(column(page, "ID")) == len(ids)
    assert {g: page.eval_on_selector_all(f"g[id='{g}'] > g > *", shown) for g in groups} == groups

    status_colour = page.eval_on_selector(".st-failed", "e => getComputedStyle(e).backgroundColor")
    assert status_colour == "rgb(220, 38, 38)"
    charts = page.eval_on_selector_all("figure[role=img]", "fs => fs.map(f => f.getAttribute('aria-label'))")
    assert charts == ["Sharpe and DSR across sessions", "Step progress"]  # inline SVG, labelled
    alts = page.eval_on_selector_all("img", "imgs => imgs.filter(i => i.naturalWidth > 0).map(i => i.alt)")
    # the only picture is the learning curves (the two charts above are SVG), with alt text naming tags
    assert len(alts) == 1 and alts[0].startswith(
        "Learning curves of 6 session(s): rollout/ep_rew_mean, train/loss"
    )
    assert page.locator("table.ztb-leaderboard-table tbody tr").count() > 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert errors == [] and external == []
    page.close()


def test_the_leaderboard_is_paged_and_sorts_and_filters_every_row(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """At 10,000 sessions the leaderboard had 9,493 rows all laid out in the page: it is paged like the
    session table now, and a sort or a filter still reaches the rows kept out of the page."""
    from ztbkit.analysis.leaderboard import trials_adjusted
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.reports.dashboard_analysis import leaderboard_table_html
    from ztbkit.reports.tables import PAGE_ROWS

    root = tmp_path_factory.mktemp("board")
    n = PAGE_ROWS + 150
    for i in range(n):  # Sharpes rise with i, so the best rows are the last ones written
        (root / f"s{i:04d}").mkdir()
        (root / f"s{i:04d}" / "summary.json").write_text(
            json.dumps({"rl_sharpe": 0.01 * i}), encoding="utf-8"
        )
    (root / "zz<i>evil").mkdir()
    (root / "zz<i>evil" / "summary.json").write_text('{"rl_sharpe": -5}', encoding="utf-8")
    board = trials_adjusted(load_artifacts(root).sessions)
    html_page = root / "board.html"
    html_page.write_text(
        f"<!doctype html><meta charset='utf-8'>{leaderboard_table_html(board)}", encoding="utf-8"
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html_page.as_uri())
    in_page = "table.ztb-leaderboard-table tbody tr"
    assert page.eval_on_selector_all(in_page, "rs => rs.length") == PAGE_ROWS
    assert page.inner_text(".ztb-count") == f"showing {PAGE_ROWS} — {n + 1} leaderboard rows"

    def first_ids() -> list[str]:
        return page.eval_on_selector_all(in_page, "rs => rs.slice(0, 3).map(r => r.cells[0].textContent)")

    page.click("table.ztb-leaderboard-table th:has-text('Sharpe (ann.)')")  # ascending
    assert first_ids() == ["zz<i>evil", "s0000", "s0001"]  # shown as text, never as markup
    page.click("table.ztb-leaderboard-table th:has-text('Sharpe (ann.)')")  # descending
    assert first_ids() == [f"s{n - 1:04d}", f"s{n - 2:04d}", f"s{n - 3:04d}"]  # from outside the first page
    page.fill("input.ztb-filter", f"s{n - 7:04d}")
    assert (
        first_ids() == [f"s{n - 7:04d}"]
        and page.inner_text(".ztb-count") == f"1 of {n + 1} leaderboard rows match"
    )
    page.fill("input.ztb-filter", "")
    page.click("button.ztb-all")
    assert page.eval_on_selector_all(in_page, "rs => rs.length") == n + 1
    assert errors == []
    page.close()
