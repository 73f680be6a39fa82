"""The compare report and the interactive learning curves in real headless Chromium, network off."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import REPO

from ztbkit.data.demo import build_demo
from ztbkit.data.notes import add_note, set_tag
from ztbkit.reports.runner import render_notebook

ARTIFACTS = REPO / "test-artifacts"
EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from datetime import UTC, datetime

    root = tmp_path_factory.mktemp("cmp")
    build_demo(root, sessions=24)
    art = root / "artifacts"
    ids = sorted(p.name for p in art.iterdir() if p.is_dir() and not p.name.startswith("."))
    for sid in ids[14:22]:  # the demo's sweep (ztbkit.data.demo_sweep): the 8 sessions before the running two
        set_tag(art, sid, "sweep")
    set_tag(art, ids[20], "live")
    set_tag(art, ids[18], "candidate")
    add_note(art, ids[18], EVIL, datetime(2025, 10, 30, tzinfo=UTC))
    result = render_notebook(
        "compare", artifacts_dir=art, out_dir=root / "out", formats=("html",), parameters={"tag": "sweep"}
    )
    assert result.status == "ok", result.error
    return (root / "out" / "compare.html").as_uri()


def _offline_page(browser: Any) -> tuple[Any, Any, list[str], list[str], list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    page = context.new_page()
    errors: list[str] = []
    external: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return context, page, errors, external, dialogs


def _headers(page: Any) -> list[str]:
    return page.eval_on_selector_all("table.ztb-sessions th", "hs => hs.map(h => h.textContent)")


def test_compare_table_plots_and_curves(browser: Any, page_url: str) -> None:
    context, page, errors, external, dialogs = _offline_page(browser)
    page.goto(page_url)
    assert page.inner_text("h1") == "Compare Runs"
    heads = _headers(page)
    # Only the varying hyperparameters: the sweep's learning_rate and vf_coef, not its fixed n_steps.
    assert "hp.learning_rate" in heads and "hp.vf_coef" in heads and "hp.n_steps" not in heads
    assert any(h.startswith("DSR adj") for h in heads) and "Tags" in heads
    first = page.eval_on_selector("table.ztb-sessions tbody tr", "r => r.textContent")
    assert "live" in first  # the run that trades now comes first
    # Sort by a hyperparameter column: numbers ascending, blanks last.
    page.click("th:has-text('hp.learning_rate')")
    col = heads.index("hp.learning_rate")
    vals = page.eval_on_selector_all(
        "table.ztb-sessions tbody tr", f"rs => rs.map(r => r.cells[{col}].textContent)"
    )
    nums = [float(v) for v in vals if v]
    assert len(nums) == 8 and nums == sorted(nums) and "" not in vals  # the tag parameter chose the sweep
    # Filter by tag.
    page.fill("input.ztb-filter", "candidate")
    assert page.locator("table.ztb-sessions tbody tr").count() == 1
    assert EVIL in page.inner_text("table.ztb-sessions tbody") and dialogs == []  # a note is text, never HTML
    page.fill("input.ztb-filter", "")
    # Parallel coordinates and the scatters are pictures with their titles.
    assert page.locator("h2:has-text('Parallel coordinates')").count() == 1
    assert page.locator("h2:has-text('Each hyperparameter against')").count() == 1

    page.wait_for_selector(".ztb-curves[data-ready='1']")
    charts = page.locator(".ztb-curves .uplot")
    assert charts.count() >= 2
    assert page.eval_on_selector(".ztb-fallback", "f => f.hidden")  # the PNG steps aside once drawn

    # Hover shows a value in the legend.
    over = page.locator(".ztb-curves .uplot .u-over").first
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None
    blank = page.locator(".ztb-curves .uplot").first.locator(".u-legend .u-value").all_inner_texts()
    assert all(v in ("", "--") for v in blank[1:]), blank  # no value before the pointer is over the chart
    for frac in (0.55, 0.6):  # the pointer enters, then moves
        page.mouse.move(box["x"] + box["width"] * frac, box["y"] + box["height"] / 2)
    values = page.locator(".ztb-curves .uplot").first.locator(".u-legend .u-value").all_inner_texts()
    assert any(any(c.isdigit() for c in v) for v in values[1:]), values

    # Drag to zoom: the x range shrinks.
    def x_range() -> list[float]:
        return page.evaluate(
            "() => { const u = document.querySelector('.ztb-curves').ztbCharts[0];"
            " return [u.scales.x.min, u.scales.x.max]; }"
        )

    before = x_range()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    after = x_range()
    assert after[1] - after[0] < (before[1] - before[0]) * 0.5, (before, after)

    # A click on a run in the legend hides it, a second click shows it again.
    first_run = page.locator(".ztb-curves .uplot").first.locator(".u-legend .u-series").nth(1)
    shown = "() => document.querySelector('.ztb-curves').ztbCharts[0].series[1].show"
    assert page.evaluate(shown) is True
    first_run.click()
    assert page.evaluate(shown) is False
    # Log scale and smoothing redraw the charts; the hidden run stays hidden.
    page.check(".ztb-curves input.ztb-log")
    assert page.evaluate("() => document.querySelector('.ztb-curves').ztbCharts[0].scales.y.distr") == 3
    assert page.evaluate(shown) is False
    page.fill(".ztb-curves input.ztb-smooth", "0.9")
    page.dispatch_event(".ztb-curves input.ztb-smooth", "input")
    assert page.inner_text(".ztb-curves .ztb-smooth-v") == "0.90"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
    assert errors == [] and external == []
    context.close()


def test_curves_without_javascript_show_the_png(browser: Any, page_url: str) -> None:
    context = browser.new_context(java_script_enabled=False, offline=True)
    page = context.new_page()
    page.goto(page_url)
    img = page.locator(".ztb-fallback img")
    assert img.count() == 1 and img.is_visible()
    assert page.eval_on_selector(".ztb-fallback img", "i => i.naturalWidth") > 0
    context.close()
