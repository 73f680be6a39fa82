"""The nightly on the demo, pasted as a user would, in Japanese and in English: the five reports, the
index and the Markdown in the chosen language, no missing glyph anywhere (charts, and the pages' own
text in real Chromium on this machine, which has no Japanese font), machine-read files unchanged, and a
screenshot of every report in both languages (test-artifacts/locale/)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, sh
from glyphs import glyph_report, heading_differs_from_tofu

REPORTS = ("dashboard", "trends", "budget", "cost", "compare")
SHOTS = REPO / "test-artifacts" / "locale"
DAY = "2025-10-31"
TITLES = {
    "ja": {"dashboard": "Zaif Trade Bot ダッシュボード", "trends": "トレンドレポート", "budget": "日次予算",
           "cost": "コストレポート", "compare": "ランの比較"},
    "en": {"dashboard": "Zaif Trade Bot Dashboard", "trends": "Trend Report", "budget": "Daily Budget",
           "cost": "Cost Report", "compare": "Compare Runs"},
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


def test_machine_read_files_are_the_same_bytes_in_both_languages(
    nightly: dict[str, tuple[Path, Any]],
) -> None:
    """What programs read: the trends CSV and night.json (the index's record) do not change with --lang."""
    ja, en = nightly["ja"][0], nightly["en"][0]
    for name in ("trends.csv", "night.json"):
        assert (ja / name).read_bytes() == (en / name).read_bytes(), name
    step = [line for line in nightly["ja"][1].stdout.splitlines() if " index " in line]
    assert step and "first night: nothing to compare with yet" in step[0]  # the step detail stays English


def test_the_compare_report_and_the_index_speak_the_language(nightly: dict[str, tuple[Path, Any]]) -> None:
    ja, en = nightly["ja"][0], nightly["en"][0]
    page = (ja / "compare.html").read_text(encoding="utf-8")
    for words in (
        "平行座標プロット",
        "ハイパーパラメーターごとの",
        "セッションを",
        "試行回数補正",
        "学習曲線",
    ):
        assert words in page, words
    md = (ja / "compare.md").read_text(encoding="utf-8")
    assert md.startswith("# ランの比較") and "## 平行座標プロット" in md
    english = (en / "compare.html").read_text(encoding="utf-8")
    assert "Parallel coordinates" in english and not any("\u3040" <= c <= "\u30ff" for c in english)
    assert (ja.parent / "index.md").read_text(encoding="utf-8").startswith("# 夜間レポート")
    index = (ja.parent / "index.html").read_text(encoding="utf-8")
    assert "<html lang='ja'>" in index and "<h1>夜間レポート</h1>" in index


def _font_bytes(page: str) -> int:
    import re

    found = re.search(r'<style id="ztbkit-webfont">.*?</style>', page, re.S)
    return len(found.group(0).encode()) if found else 0


def test_japanese_pages_carry_their_glyphs_and_english_pages_are_unchanged(
    nightly: dict[str, tuple[Path, Any]],
) -> None:
    """Each Japanese page embeds one small face; an English page embeds one only for the Japanese it
    shows (the cost page names the tariff 従量電灯B), and none when it shows no Japanese at all."""
    from ztbkit.reports.webfont import is_japanese, page_characters

    sizes = {}
    for name in REPORTS:
        ja = (nightly["ja"][0] / f"{name}.html").read_text(encoding="utf-8")
        en = (nightly["en"][0] / f"{name}.html").read_text(encoding="utf-8")
        sizes[name] = (_font_bytes(ja), _font_bytes(en))
        assert ja.count("@font-face") == 1 and 2_000 < sizes[name][0] < 120_000, (name, sizes[name])
        japanese_in_en = any(is_japanese(c) for c in page_characters(en))
        assert (sizes[name][1] > 0) == japanese_in_en and en.count("@font-face") <= 1, name
        assert sizes[name][1] < sizes[name][0], name  # only the few characters it shows
    assert sizes["compare"][1] == 0 and sizes["dashboard"][1] == 0  # nothing Japanese: the page unchanged
    print("bytes added per page (ja, en):", sizes)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_screenshots_of_every_report(nightly: dict[str, tuple[Path, Any]], lang: str, browser: Any) -> None:
    """Each report opened in headless Chromium: its heading in the language, saved for people to look at.
    In Japanese, every Japanese character of the page's text is drawn with a real glyph in the font its
    element uses (this machine has no Japanese font: only the embedded face can draw them), and each
    heading as laid out differs from the same heading in tofu boxes."""
    day, _ = nightly[lang]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        for name in REPORTS:
            page.goto((day / f"{name}.html").as_uri())
            assert page.title() == TITLES[lang][name]
            heading = page.inner_text("h1")
            assert heading == TITLES[lang][name], (name, heading)
            if lang == "ja" or name == "cost":  # the English cost page names the tariff in Japanese
                glyphs = glyph_report(page)
                assert glyphs["checked"] > 3 and glyphs["tofu"] == [] and glyphs["same"] == [], (name, glyphs)
            if lang == "ja":
                assert heading_differs_from_tofu(page, "h1") and heading_differs_from_tofu(page, "h2"), name
            page.screenshot(path=str(SHOTS / f"{name}-{lang}.png"), full_page=True)
            assert (SHOTS / f"{name}-{lang}.png").stat().st_size > 10_000
        if lang == "ja":
            page.goto((day.parent / "index.html").as_uri())
            glyphs = glyph_report(page)
            assert glyphs["checked"] > 5 and glyphs["tofu"] == [], glyphs
            assert heading_differs_from_tofu(page, "h1")
            page.screenshot(path=str(SHOTS / "index-ja.png"), full_page=True)
    finally:
        page.close()
