"""The nightly on the demo, pasted as a user would, in Japanese and in English: the four reports and the
Markdown in the chosen language, no missing glyph anywhere, machine-read files unchanged, and a
screenshot of every report in both languages (test-artifacts/locale/)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, sh

REPORTS = ("dashboard", "trends", "budget", "cost")
SHOTS = REPO / "test-artifacts" / "locale"
DAY = "2025-10-31"
TITLES = {
    "ja": {"dashboard": "Zaif Trade Bot ダッシュボード", "trends": "トレンドレポート", "budget": "日次予算",
           "cost": "コストレポート"},
    "en": {"dashboard": "Zaif Trade Bot Dashboard", "trends": "Trend Report", "budget": "Daily Budget",
           "cost": "Cost Report"},
}  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    """A clean environment, as cron gives: no ZTB_LANG unless a test sets one."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    if "ZTB_SHARED_DIR" in os.environ:
        env["ZTB_SHARED_DIR"] = os.environ["ZTB_SHARED_DIR"]
    return {**env, **extra}


@pytest.fixture(scope="module")
def nightly(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    """The demo, then the nightly twice: Japanese chosen by the locale alone (CI's ja_JP.EUC-JP), and
    English by default under a plain C locale."""
    work = tmp_path_factory.mktemp("locale-nightly")
    made = sh("ztb demo --out-dir demo", _env(LANG="C.UTF-8"), work)
    assert made.returncode == 0, made.stderr
    runs = {}
    for lang, env in (("ja", _env(LANG="ja_JP.EUC-JP", LC_ALL="ja_JP.EUC-JP")), ("en", _env(LANG="C.UTF-8"))):
        out = work / f"out-{lang}"
        done = sh(f"ztb nightly --artifacts-dir demo/artifacts --out-dir {out.name} --date {DAY}", env, work)
        assert done.returncode == 0, done.stdout + done.stderr
        runs[lang] = (out / DAY, done)
    return runs


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_four_reports_are_in_the_chosen_language(nightly: dict[str, tuple[Path, Any]], lang: str) -> None:
    day, _ = nightly[lang]
    for name in REPORTS:
        page = (day / f"{name}.html").read_text(encoding="utf-8")
        assert f'<html lang="{lang}"' in page and f"<title>{TITLES[lang][name]}</title>" in page, name
    cost = (day / "cost.md").read_text(encoding="utf-8")
    budget = (day / "budget_daily.md").read_text(encoding="utf-8")
    if lang == "ja":
        assert (
            cost.startswith("# コストレポート")
            and "従量電灯B 40A" in cost
            and "jp_residential_tiered" not in cost
        )
        assert budget.startswith("# 日次予算") and "| 日 | 実行数 |" in budget
        assert (day / "trends.md").read_text(encoding="utf-8").startswith("# トレンドレポート")
        assert "セッションごとのシャープレシオとDSR" in (day / "dashboard.html").read_text(encoding="utf-8")
    else:
        assert cost.startswith("# Cost Report") and budget.startswith("# Daily Budget")
        assert not any("\u3040" <= c <= "\u30ff" for c in (day / "dashboard.md").read_text(encoding="utf-8"))


def test_machine_read_outputs_do_not_change_with_the_language(nightly: dict[str, tuple[Path, Any]]) -> None:
    ja, en = nightly["ja"][0], nightly["en"][0]
    assert (ja / "trends.csv").read_bytes() == (en / "trends.csv").read_bytes()
    assert (ja / "trends.csv").read_text(encoding="utf-8").splitlines()[
        0
    ] == "session_id,global_step,rl_sharpe,dsr,p_value"
    table = (ja / "trends_table.md").read_text(encoding="utf-8")
    assert table.startswith("# Trend Report") and "## rl_sharpe" in table
    assert "\n## rl_sharpe\n" in (ja / "trends.md").read_text(encoding="utf-8")  # sections by metric name


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_no_glyph_is_missing_from_any_chart(nightly: dict[str, tuple[Path, Any]], lang: str) -> None:
    """matplotlib warns "Glyph … missing from font(s)" into the cell's stderr: not one, in any report."""
    day, done = nightly[lang]
    assert "missing from font" not in done.stderr
    for name in REPORTS:
        nb = json.loads((day / f"{name}.ipynb").read_text(encoding="utf-8"))
        streams = [
            "".join(o.get("text", ""))
            for c in nb["cells"]
            for o in c.get("outputs", [])
            if o.get("output_type") == "stream"
        ]
        assert not [s for s in streams if "Glyph" in s or "missing from font" in s], name
        assert any(c.get("outputs") for c in nb["cells"]), name


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_screenshots_of_every_report(nightly: dict[str, tuple[Path, Any]], lang: str, browser: Any) -> None:
    """Each report opened in headless Chromium: its heading in the language, saved for people to look at."""
    day, _ = nightly[lang]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        for name in REPORTS:
            page.goto((day / f"{name}.html").as_uri())
            assert page.title() == TITLES[lang][name]
            heading = page.inner_text("h1")
            assert heading == TITLES[lang][name], (name, heading)
            page.screenshot(path=str(SHOTS / f"{name}-{lang}.png"), full_page=True)
            assert (SHOTS / f"{name}-{lang}.png").stat().st_size > 10_000
    finally:
        page.close()
