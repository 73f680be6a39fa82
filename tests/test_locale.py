"""Words for people: the language rule, the catalogue (complete, fresh, covering what the reports
show), Babel's numbers and dates, ``--lang`` on every command, and Japanese chart text without tofu."""

from __future__ import annotations

import ast
import os
import sys
import warnings
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REPO, MakeTree, sh

from ztbkit import locale as zl
from ztbkit.cli import cli
from ztbkit.locale import catalog
from ztbkit.locale.numbers import amount, day, man_yen, number, report_day, yen

PACKAGE = REPO / "src" / "ztbkit"


# --- the language rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "env", "want"),
    [
        ("ja", {"ZTB_LANG": "en", "LANG": "en_US.UTF-8"}, "ja"),  # --lang wins
        (None, {"ZTB_LANG": "ja", "LANG": "C"}, "ja"),  # then ZTB_LANG
        ("", {"ZTB_LANG": "en", "LANG": "ja_JP.UTF-8"}, "en"),  # an empty notebook lang is "not given"
        (None, {"LANG": "ja_JP.EUC-JP"}, "ja"),  # then the locale, CI's included
        (None, {"LANG": "ja_JP.UTF-8", "LC_ALL": "C"}, "en"),  # LC_ALL before LANG (POSIX)
        (None, {"LANG": "C", "LC_MESSAGES": "ja_JP.UTF-8"}, "ja"),  # LC_MESSAGES before LANG
        (None, {"LC_ALL": "", "LANG": "ja_JP.eucJP"}, "ja"),  # an empty variable is unset
        (None, {}, "en"),  # else English
        (None, {"ZTB_LANG": "JA-jp"}, "ja"),  # case and region ignored
    ],
)
def test_the_language_rule(explicit: str | None, env: dict[str, str], want: str) -> None:
    assert zl.resolve_language(explicit, env) == want


def test_an_unknown_language_names_where_it_came_from() -> None:
    from ztbkit.core.errors import UsageError

    with pytest.raises(UsageError, match="ZTB_LANG: unknown language 'fr'"):
        zl.resolve_language(None, {"ZTB_LANG": "fr"})
    with pytest.raises(UsageError, match="--lang: unknown language 'de'"):
        zl.resolve_language("de", {})


def test_translation_follows_the_chosen_language_and_lazy_text_follows_late() -> None:
    title = zl.lazy("Cost Report")  # defined before any language is chosen, like a module constant
    zl.use_language("ja")
    assert (
        zl._("Cost Report") == "コストレポート"
        and str(title) == "コストレポート"
        and f"{title}" == "コストレポート"
    )
    assert zl.ngettext("{n} artifact problem", "{n} artifact problems", 2) == "成果物の問題 {n}件"
    zl.use_language("en")
    assert zl._("Cost Report") == "Cost Report" and str(title) == "Cost Report"
    assert zl.ngettext("{n} artifact problem", "{n} artifact problems", 1) == "{n} artifact problem"


# --- the catalogue ----------------------------------------------------------------------------


def _key(m: Any) -> Any:
    return m.id if isinstance(m.id, str) else tuple(m.id)


def test_every_message_in_the_code_has_a_japanese_entry_and_none_is_stale() -> None:
    """Extraction is run here, from the code as it is (with click's own messages and every command's
    help, as ``make messages`` does), and compared with the committed .po."""
    from ztbkit.cli.i18n import extract_all

    code = {_key(m) for m in extract_all(cli) if m.id}
    po = {_key(m): m.string for m in catalog.read() if m.id}
    missing = sorted(map(str, code - set(po)))
    stale = sorted(map(str, set(po) - code))
    empty = sorted(str(k) for k, s in po.items() if not (all(s) if isinstance(s, tuple | list) else s))
    assert missing == [], f"not in the catalogue (run `make messages`, then translate): {missing}"
    assert empty == [], f"no Japanese yet: {empty}"
    assert stale == [], f"in the catalogue but gone from the code (run `make messages`): {stale}"


def test_messages_inside_f_strings_are_in_the_catalogue_too() -> None:
    """Babel's extractor does not look inside f-strings (Python 3.11 tokenises one as a single string),
    so a ``f"{_('word')}"`` would silently stay English: every literal given to a message function
    anywhere in the package, read with ``ast``, must be a catalogue entry."""
    po = {_key(m) for m in catalog.read() if m.id}
    loose = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("_", "gettext", "N_", "lazy"):
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value not in po:
                    loose.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {arg.value!r}")
    assert loose == []


def test_the_committed_mo_is_the_compiled_po() -> None:
    assert catalog.MO.read_bytes() == catalog.compiled(catalog.read()), "run `make messages`"


def test_placeholders_survive_translation() -> None:
    """A Japanese entry that drops or renames a {placeholder} would raise KeyError on a live page."""
    import re

    for m in catalog.read():
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        want = set(re.findall(r"\{(\w+)\}", ids[-1]))
        for s in strings:
            assert set(re.findall(r"\{(\w+)\}", s)) == want, (m.id, s)


#: Calls whose text argument a person reads; their string literals must go through _() / N_().
SHOWN_CALLS = {
    "heading",
    "note",
    "set_title",
    "set_xlabel",
    "set_ylabel",
    "text",
    "finish_axes",
    "echo",
    "fail",
}
SHOWN_KEYWORDS = {"label", "description", "placeholder"}
#: Modules whose words are translated (the list grows as layers are translated).
TRANSLATED = ["reports/views.py", "reports/money_views.py", "reports/dashboard.py", "reports/dashboard_analysis.py",
              "reports/blocks.py", "analysis/curves.py",
              # the watch, its digest and silences; the scheduler; notify's own lines (tests/test_locale_watch.py)
              "watch/config.py", "watch/digest.py", "watch/engine.py", "watch/lifecycle.py", "watch/rules.py",
              "watch/rules_live.py", "watch/rules_self.py", "watch/rules_training.py", "watch/silences.py",
              "schedule/failures.py", "schedule/runner.py", "schedule/state.py", "schedule/stopfile.py",
              "schedule/templates.py", "notify/delivery.py", "notify/dispatch.py", "notify/heartbeat.py",
              "notify/waiting.py", "notify/slack.py", "notify/outbox.py", "cli/watching.py", "cli/alerting.py",
              # the compare report, the night index, diff/note/tag, dsr, lab
              "reports/compare_view.py", "reports/interactive_curves.py", "reports/workspace.py", "ops/night_index.py",
              "analysis/diff.py", "cli/runs.py", "cli/analysis.py", "cli/notebooks.py"]  # fmt: skip
#: Literal text allowed on purpose: the ``hp.`` prefix names a hyperparameter column in every language.
ALLOWED: set[tuple[str, str]] = {("reports/compare_view.py", "hp.")}


def _bare_text(node: ast.expr) -> str | None:
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(c.isalpha() for c in node.value)
    ):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string with words in it (not just "{label}: {amount}")
        words = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
        return words if any(c.isalpha() for c in words) else None
    return None


@pytest.mark.parametrize("rel", TRANSLATED)
def test_no_user_facing_literal_escapes_the_catalogue(rel: str) -> None:
    """A heading, note, chart title, axis label, legend label or widget label given as a bare literal
    (or an f-string) would show in English on a Japanese page: each must be a message."""
    tree = ast.parse((PACKAGE / rel).read_text(encoding="utf-8"))
    bare = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        args = node.args if name in SHOWN_CALLS else []
        if name == "fail" and len(args) >= 2:  # fail(key, why): the first names a TOML key, not words
            args = args[1:]
        args = [*args, *(k.value for k in node.keywords if k.arg in SHOWN_KEYWORDS)]
        for a in args:
            text = _bare_text(a)
            if text is not None and (rel, text) not in ALLOWED:
                bare.append(f"{rel}:{node.lineno}: {text!r}")
    assert bare == []


def test_the_coverage_check_catches_an_untranslated_literal(tmp_path: Path) -> None:
    """The guard itself: a new bare heading is found, and a new _() message is reported missing."""
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "m.py").write_text('heading("Brand new words")\nx = _("Also brand new")\n', encoding="utf-8")
    node = ast.parse((src / "m.py").read_text(encoding="utf-8")).body[0]
    assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
    assert _bare_text(node.value.args[0]) == "Brand new words"
    extracted = {m.id for m in catalog.extract(src) if m.id}
    assert extracted == {"Also brand new"} and "Also brand new" not in {m.id for m in catalog.read()}


# --- numbers, yen and dates (Babel) ------------------------------------------------------------


def test_yen_numbers_and_dates_in_both_languages() -> None:
    for lang in ("en", "ja"):
        assert yen(1234.5, lang) == "¥1,235" and yen(-1555.87, lang) == "-¥1,556" and yen(0, lang) == "¥0"
        assert yen(float("inf"), lang) == "¥∞" and yen(float("nan"), lang) == "¥—"
        assert number(1234567, lang=lang) == "1,234,567"
    assert man_yen(12_345, "ja") == "1.2万円" and man_yen(9_999, "ja") == "¥9,999"
    assert man_yen(55_908, "ja") == "5.6万円" and man_yen(55_908, "en") == "¥55,908"
    assert amount(55_908, "ja") == "¥55,908（5.6万円）" and amount(55_908, "en") == "¥55,908"
    assert amount(1_918, "ja") == "¥1,918" and report_day(date(2025, 10, 31), "en") == "2025-10-31"
    assert report_day(date(2025, 10, 31), "ja") == "2025/10/31(金)"
    assert day(date(2025, 10, 31), "ja") == "2025/10/31(金)"
    assert day(date(2025, 10, 31), "en") == "2025-10-31 (Fri)"
    # An aware time is a day in Tokyo: 2025-10-31 20:00 UTC is already Saturday in Japan.
    assert day(datetime(2025, 10, 31, 20, tzinfo=UTC), "ja") == "2025/11/01(土)"


# --- clear money -----------------------------------------------------------------------------

#: FORMATS.md's reference case: 1 GPU-hour at the default ¥300, 0.3 kWh on the tiered tariff.
REFERENCE_COST = {"correlation_id": "r", "gpu_hours": 1.0, "power_kwh": 0.3,
                  "costs": {"gpu_jpy": 300.0, "power_jpy": 1255.87, "cloud_jpy": 0.0, "total_jpy": 1555.87},
                  "rates": {"gpu_rate_jpy_per_hour": 300.0, "tariff": "jp_residential_tiered"}}  # fmt: skip


def test_the_budget_says_what_is_out_of_pocket_and_what_is_notional(make_tree: MakeTree) -> None:
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.money.budget import budget_markdown, budget_runs, rollup

    root = make_tree({
        "r": {"run_metadata.json": {"start_time": "2025-10-01T09:00:00+09:00"},
              "reports/cost_estimate.json": REFERENCE_COST},
        "flat": {"run_metadata.json": {"start_time": "2025-10-01T10:00:00+09:00"},
                 "reports/cost_estimate.json": {"total_cost_jpy": 500.0, "gpu_hours": 1.0}},
    })  # fmt: skip
    days = rollup(budget_runs(load_artifacts(root).sessions))
    md = budget_markdown(days)
    assert "Out of pocket: ¥1,256 (electricity actually paid, kWh × tariff: ¥1,256; cloud: ¥0)." in md
    assert "Notional: ¥300 of GPU time at your rate of ¥300 per GPU-hour. This is not money paid" in md
    assert "1 priced run(s) have only a total in their cost file: not split above." in md
    zl.use_language("ja")
    md = budget_markdown(days)
    assert md.startswith("# 日次予算\n") and "実際の支出：¥1,256" in md and "みなし費用：GPU時間 ¥300" in md
    assert "\n## 2025/10/01(水)\n" in md and "| 2025/10/01(水) | 2 |" in md  # days as Japanese write them


def test_the_budget_says_a_runs_status_in_japanese(make_tree: MakeTree) -> None:
    """The 状態 column read "stopped"/"failed" in the Japanese budget (the dashboard translates them);
    a status the bot invents stays as written."""
    from ztbkit.data.artifacts import load_artifacts
    from ztbkit.money.budget import budget_markdown, budget_runs, rollup

    runs = {"stopped": "a", "failed": "b", "running": "c", "paused-by-hand": "d"}
    root = make_tree({sid: {"run_metadata.json": {"start_time": "2025-10-01T09:00:00+09:00"},
                            "reports/cost_estimate.json": REFERENCE_COST} for sid in runs.values()},
                     index={"sessions": [{"correlation_id": i, "status": st} for st, i in runs.items()]})  # fmt: skip
    days = rollup(budget_runs(load_artifacts(root).sessions))
    zl.use_language("ja")
    rows = [
        line
        for line in budget_markdown(days).splitlines()
        if line.startswith(("| a ", "| b ", "| c ", "| d "))
    ]
    assert [row.split(" | ")[1] for row in sorted(rows)] == ["停止", "失敗", "実行中", "paused-by-hand"]
    zl.use_language("en")
    assert "| a | stopped |" in budget_markdown(days)


def test_the_cost_page_names_a_run_without_a_month_and_bills_no_month(
    make_tree: MakeTree, capsys: Any
) -> None:
    """One priced run with no start time: no "no month: 0.0 kWh → ¥1,247" (a base fee for nothing)."""
    from ztbkit.reports.money_views import show_cost

    root = make_tree(
        {"u": {"summary.json": {"status": "stopped"}, "reports/cost_estimate.json": REFERENCE_COST}}
    )
    show_cost(str(root), lang="en")
    out = capsys.readouterr().out
    assert "No priced run has a start time, so no month can be billed." in out and "in no month" in out
    assert "¥1,247" not in out and "no month:" not in out


def test_the_cost_page_names_the_tariff_by_the_name_people_know(make_tree: MakeTree, capsys: Any) -> None:
    from ztbkit.reports.money_views import show_cost

    cost = {**REFERENCE_COST, "correlation_id": "m"}
    root = make_tree({"m": {"run_metadata.json": {"start_time": "2025-10-01T09:00:00+09:00"},
                            "reports/cost_estimate.json": cost}})  # fmt: skip
    show_cost(str(root), lang="ja", now=datetime(2025, 10, 31, tzinfo=UTC))
    out = capsys.readouterr().out
    assert "従量電灯B 40A" in out and "jp_residential_tiered" not in out and "実際に支払う電気代" in out


# --- --lang on every command ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_takes_lang(name: str) -> None:
    assert any("--lang" in p.opts for p in cli.commands[name].params), f"ztb {name} has no --lang"


def test_lang_before_or_after_the_command_and_a_bad_one_is_exit_2() -> None:
    runner = CliRunner()
    for args in (["--lang", "ja", "dsr", "--help"], ["dsr", "--lang", "ja", "--help"]):
        assert runner.invoke(cli, args).exit_code == 0
    bad = runner.invoke(cli, ["--lang", "fr", "dsr", "--help"])
    assert bad.exit_code == 2 and "--lang" in bad.stderr


def _clean_env(**extra: str) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    return {**env, **extra}


def test_a_bad_ztb_lang_is_one_line_naming_it_exit_2(tmp_path: Path) -> None:
    done = sh("ztb trends --artifacts-dir missing", _clean_env(ZTB_LANG="klingon"), tmp_path)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "ztb: error: ZTB_LANG: unknown language 'klingon' (choose from en, ja)"
    ]


# --- Japanese chart text: never tofu ----------------------------------------------------------


def _sessions(make_tree: MakeTree) -> list[Any]:
    from ztbkit.data.artifacts import load_artifacts

    sessions = {}
    for i in range(4):
        sessions[f"s{i}"] = {
            "summary.json": {"rl_sharpe": 0.5 + i / 10, "dsr": 0.2 * i, "p_value": 0.05 * i, "global_step": 10**6 * i,
                             "status": "running" if i == 3 else "stopped"},
            "run_metadata.json": {"start_time": f"2025-10-0{i + 1}T09:00:00+09:00"},
            "reports/cost_estimate.json": {"gpu_hours": 1.5 * (i + 1), "total_cost_jpy": 12_000.0 * (i + 1),
                                           "power_kwh": 0.3},
        }  # fmt: skip
    return load_artifacts(make_tree(sessions)).sessions


def test_every_figure_renders_japanese_without_a_missing_glyph(make_tree: MakeTree) -> None:
    """Each report figure is drawn in Japanese to PNG and SVG with every warning an error: matplotlib's
    "Glyph … missing from font(s)" would fail it (checked below by drawing without the font)."""
    import io

    from ztbkit.analysis.curves import SessionCurves, curves_figure
    from ztbkit.analysis.trends import trend_table
    from ztbkit.money.budget import budget_runs, rollup
    from ztbkit.reports import dashboard, money_views, views

    zl.use_language("ja")
    sessions = _sessions(make_tree)
    starts = {s.session_id: s.start_time for s in sessions}
    curves = [
        SessionCurves(s.session_id, {"train/loss": ([0, 1000, 2000], [1.0, 0.5, 0.25])}) for s in sessions
    ]
    figures = {
        "metrics": lambda: dashboard.metrics_figure(sessions),
        "progress": lambda: dashboard.progress_figure(sessions),
        "trend": lambda: views._trend_figure(trend_table(sessions), "p_value", starts),
        "cost per day": lambda: money_views._cost_per_day_figure(rollup(budget_runs(sessions))),
        "tiers": lambda: money_views._tier_figure([("0–120 kWh", 9.0)], 1246.96, "2025-10：従量電灯B 40A"),
        "per 1M steps": lambda: money_views._per_million_steps_figure([(starts["s1"], 1200.0)]),
        "empty": lambda: dashboard.metrics_figure([]),
        "curves": lambda: curves_figure(curves, ["train/loss"], "s1"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, make in figures.items():
            fig = make()
            assert fig is not None, name
            texts = " ".join(
                t.get_text() for ax in fig.axes for t in [ax.title, ax.xaxis.label, ax.yaxis.label]
            )
            for fmt in ("png", "svg"):
                fig.savefig(io.BytesIO(), format=fmt)
            assert name in ("tiers", "curves") or any("\u3040" <= c <= "\u9fff" for c in texts), (name, texts)


def test_without_the_bundled_font_the_same_text_is_tofu() -> None:
    """The check above can fail: DejaVu Sans alone has no kana, and matplotlib says so."""
    import io

    import matplotlib
    from matplotlib.figure import Figure

    with (
        matplotlib.rc_context({"font.family": ["DejaVu Sans"]}),
        warnings.catch_warnings(record=True) as seen,
    ):
        warnings.simplefilter("always")
        fig = Figure()
        fig.add_subplot().set_title("セッションごとのシャープレシオ")
        fig.savefig(io.BytesIO(), format="png")
    assert any("missing from font" in str(w.message) for w in seen)


def test_an_error_in_japanese_is_still_one_line_and_exit_2(tmp_path: Path) -> None:
    """Under CI's ja_JP.EUC-JP locale (no --lang, no ZTB_LANG) a missing folder is one Japanese line,
    the ``ztb: error:`` prefix kept for log readers, and the piped output is UTF-8."""
    done = sh(
        "ztb trends --artifacts-dir nope", _clean_env(LANG="ja_JP.EUC-JP", LC_ALL="ja_JP.EUC-JP"), tmp_path
    )
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"ztb: error: 成果物フォルダー 'nope' がありません（{tmp_path} から見て）（--artifacts-dir で指定してください）"
    ]
    english = sh("ztb --lang en trends --artifacts-dir nope", _clean_env(LANG="ja_JP.EUC-JP"), tmp_path)
    assert english.returncode == 2 and english.stderr.startswith(
        "ztb: error: artifacts folder 'nope' does not exist"
    )


def test_lang_is_handed_to_children_while_the_command_runs_and_not_kept_after(tmp_path: Path) -> None:
    """``--lang`` reaches the processes a command starts (ZTB_LANG in its environment) and is gone
    when the command returns: one process running several commands keeps its own language."""
    from ztbkit.cli.base import cli as group

    seen: list[str | None] = []

    @group.command("lang-probe")
    def probe() -> None:
        seen.append(os.environ.get("ZTB_LANG"))
        seen.append(zl._("Cost Report"))

    try:
        runner = CliRunner()
        assert runner.invoke(group, ["--lang", "ja", "lang-probe"]).exit_code == 0
        assert runner.invoke(group, ["lang-probe", "--lang", "ja"]).exit_code == 0
        assert runner.invoke(group, ["lang-probe"]).exit_code == 0
    finally:
        group.commands.pop("lang-probe")
    assert seen == ["ja", "コストレポート", "ja", "コストレポート", "en", "Cost Report"]
    assert os.environ["ZTB_LANG"] == "en" and zl._("Cost Report") == "Cost Report"


def test_the_locale_benchmark_runs_at_small_scale(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_locale
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    result = bench_locale.run(sessions=5, data=tmp_path, repeat=1)
    assert result["sessions"] >= 5 and result["page_en_s"] > 0 and result["page_ja_s"] > 0
    assert result["message_us"] > 0 and result["message_ratio"] > 0
    assert result["help_en_s"] > 0 and result["help_ja_s"] > 0 and result["help_ratio_ja_en"] > 0
