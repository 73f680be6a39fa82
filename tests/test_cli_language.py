"""The ``ztb`` command in Japanese: click's own words (usage errors, the help frame), every command's
help, and the library's error lines — settled before click parses, English by default."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from conftest import REPO, sh

from ztbkit import locale as zl
from ztbkit.cli import cli
from ztbkit.cli.i18n import help_messages, preread_language, translate_help, unrouted_click_bindings
from ztbkit.core.errors import ZtbError
from ztbkit.locale import catalog

PACKAGE = REPO / "src" / "ztbkit"


def _env(**extra: str) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    return {**env, **extra}


def _has_japanese(text: str) -> bool:
    return any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in text)


# --- 1. click's own words ----------------------------------------------------------------------


def test_no_click_module_still_speaks_through_the_standard_librarys_gettext() -> None:
    """click binds ``gettext.gettext`` into each module at import; one left unrouted would stay
    English whatever --lang says. Every module of click is loaded here, as a long run would load
    them, so a click upgrade that adds a lazily loaded module with messages fails here."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(click.__path__, "click."):
        if info.name != "click._winconsole" or sys.platform == "win32":
            importlib.import_module(info.name)
    assert unrouted_click_bindings() == []


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (["nightly", "--bogus", "--lang", "ja"], ["使い方: ztb nightly [OPTIONS]",
                                                   "詳しくは 'ztb nightly --help' を見てください。", "",
                                                   "エラー: '--bogus' というオプションはありません。 "
                                                   "もしかして '--verbose' ですか？"]),
        (["--lang=ja", "budget", "--date"], None),
        (["budget", "--lang", "ja", "--date", "2025-13-45"], None),
        (["--lang", "ja", "nosuchcommand"], None),
    ],
)  # fmt: skip
def test_usage_errors_come_out_in_the_language_chosen_anywhere_on_the_line(
    args: list[str], want: list[str] | None
) -> None:
    """``--lang`` after the bad option still counts: it is read before click parses a word."""
    done = CliRunner().invoke(cli, args, prog_name="ztb")
    assert done.exit_code == 2, done.output
    lines = done.stderr.splitlines()
    if want is not None:
        assert lines == want
    assert _has_japanese(lines[-1]) and "Error" not in done.stderr and "Usage" not in done.stderr
    assert lines[-1].startswith(("エラー: ", "ztb: error: "))


def test_usage_errors_stay_english_by_default_and_follow_ztb_lang(tmp_path: Path) -> None:
    english = sh("ztb nightly --bogus", _env(), tmp_path)
    assert english.returncode == 2 and english.stderr.splitlines() == [
        "Usage: ztb nightly [OPTIONS]", "Try 'ztb nightly --help' for help.", "",
        "Error: No such option '--bogus'. Did you mean '--verbose'?",
    ]  # fmt: skip
    for env in (_env(ZTB_LANG="ja"), _env(LANG="ja_JP.EUC-JP")):
        done = sh("ztb budget --date", env, tmp_path)
        assert (
            done.returncode == 2
            and done.stderr.splitlines()[-1] == "エラー: オプション '--date' に値を 1 個指定してください。"
        )
    missing = sh("ztb doctor --lang ja", _env(), tmp_path)
    assert (
        missing.returncode == 2
        and "エラー: 必須のオプションがありません: '--correlation-id'." in missing.stderr
    )
    bad = sh("ztb budget --lang ja --date 2025-13-45 --artifacts-dir .", _env(), tmp_path)
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        == "ztb: error: --date: '2025-13-45' は日付ではありません（YYYY-MM-DD で指定してください）"
    )


def test_a_bad_ztb_lang_does_not_turn_a_usage_error_into_a_traceback(tmp_path: Path) -> None:
    done = sh("ztb nightly --bogus", _env(ZTB_LANG="klingon"), tmp_path)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "ztb: error: ZTB_LANG: unknown language 'klingon' (choose from en, ja)"
    ]


def test_a_bad_ztb_lang_still_shows_the_help_in_english(tmp_path: Path) -> None:
    done = sh("ztb --help", _env(ZTB_LANG="klingon"), tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("Usage: ztb [OPTIONS]") and done.stderr == ""


def test_preread_takes_the_last_lang_before_the_double_dash() -> None:
    assert preread_language(["--lang", "ja", "x", "--lang=EN"]) == "en"
    assert preread_language(["cronish", "--", "prog", "--lang", "ja"]) is None
    assert preread_language(["--lang", "fr"]) is None and preread_language(["--lang"]) is None


# --- 2. help in Japanese -----------------------------------------------------------------------


def test_the_group_help_reads_in_japanese_with_the_frame_and_examples_kept() -> None:
    out = CliRunner().invoke(cli, ["--help", "--lang", "ja"], terminal_width=100, prog_name="ztb").output
    assert out.startswith("使い方: ztb [OPTIONS] COMMAND [ARGS]...\n")
    assert "オプション:" in out and "コマンド:" in out and "このヘルプを表示して終了します。" in out
    assert "バージョンを表示して終了します。" in out
    assert "  ztb demo --out-dir demo                   " in out  # the command line itself unchanged
    for english in ("Options:", "Commands:", "Show this message", "Quick start", "Exit codes"):
        assert english not in out, english


def _all_commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, cmd in sorted(group.commands.items()):
        found += _all_commands(cmd, (*path, name)) if isinstance(cmd, click.Group) else [(*path, name)]
    return found


def test_nightly_help_reads_in_japanese() -> None:
    out = CliRunner().invoke(cli, ["nightly", "--help", "--lang", "ja"], prog_name="ztb").output
    assert out.startswith("使い方: ztb nightly [OPTIONS]\n\n  夜間のレポートをすべて順に実行します。")
    assert "\n  例:\n    ztb nightly --artifacts-dir artifacts --out-dir outputs\n" in out
    assert "  --artifacts-dir PATH  ボットの成果物ツリーのルート" in out and "[既定: artifacts]" in out
    assert "Options:" not in out and "Show this" not in out and "Root of" not in out


@pytest.mark.parametrize("width", [60, 80, 100])
def test_every_japanese_help_screen_fits_the_terminal(width: int) -> None:
    """Every line with Japanese in it, on every command's help, fits the width click was given,
    counted as a terminal draws it (a kanji is two columns); only an example command line, which click
    never rewraps in English either, may be longer. No line starts with 、 or 。"""
    from ztbkit.cli.helpformat import is_wide, width_of

    over, orphans = [], []
    for path in _all_commands(cli):
        out = CliRunner().invoke(
            cli, [*path, "--help", "--lang", "ja"], terminal_width=width, prog_name="ztb"
        )
        assert out.exit_code == 0 and out.output.startswith("使い方: ztb"), path
        for line in out.output.splitlines():
            if is_wide(line) and width_of(line) > width and not line.lstrip().startswith("ztb "):
                over.append(f"{' '.join(path)}: {line}")
            if line.strip()[:1] in ("、", "。", "）"):
                orphans.append(f"{' '.join(path)}: {line}")
    assert over == [] and orphans == []


@pytest.mark.parametrize("columns", [40, 50, 54])
def test_narrow_terminal_japanese_help_keeps_line_break_rules(columns: int) -> None:
    """On a narrow terminal (a split tmux pane: click's floor is 50 columns, the option column leaves
    16) a long narrow word fills a line; the 。 or 、 after it must still not start the next line,
    and an opening （ must not be left alone at the end of one (ぶら下げ instead)."""
    bad = []
    for path in _all_commands(cli):
        out = CliRunner().invoke(
            cli, [*path, "--help", "--lang", "ja"], terminal_width=columns, prog_name="ztb"
        )
        assert out.exit_code == 0, path
        for line in out.output.splitlines():
            text = line.strip()
            if text[:1] in ("、", "。", "）", "」") or text[-1:] in ("（", "「"):
                bad.append(f"{' '.join(path)}: {line}")
    assert bad == []


def test_english_help_is_exactly_clicks() -> None:
    """The translating command changes nothing in English: the same screen as a plain click command."""
    CliRunner().invoke(cli, ["budget", "--help", "--lang", "ja"], prog_name="ztb")  # caches nothing Japanese
    ours = CliRunner().invoke(cli, ["budget", "--help"], terminal_width=80, prog_name="ztb").output
    budget = cli.commands["budget"]
    plain = click.Command("budget", params=[p for p in budget.params if p.name != "help"], help=budget.help)
    parent = click.Context(cli, info_name="ztb")
    names = ["-h", "--help"]
    with click.Context(
        plain, info_name="budget", parent=parent, terminal_width=80, help_option_names=names
    ) as ctx:
        theirs = plain.get_help(ctx)
    assert "Usage: ztb budget [OPTIONS]" in ours and ours.rstrip("\n") == theirs.rstrip("\n")


def test_every_help_text_has_japanese_in_the_catalogue() -> None:
    po = {m.id: m.string for m in catalog.read() if m.id}
    found = list(help_messages(cli))
    assert len(found) > 150
    missing = sorted({f"{where}: {m!r}" for m, where in found if not po.get(m)})
    assert missing == []


def test_help_examples_stay_as_written_and_only_words_are_messages() -> None:
    text = "Do a thing.\n\n\b\nExamples:\n  ztb x --y 1\n  ztb x --z 2      the second way"
    seen: list[str] = []
    translate_help(text, lambda m: seen.append(m) or m.upper())
    assert seen == ["Do a thing.", "Examples:", "the second way"]


# --- 3. the library's error lines --------------------------------------------------------------

#: The library's layers whose errors a person reads (reports/ is translated by its own owners; the
#: CLI's allowlist refusals are answered to a program by ``ztb compat``, in English by design).
COVERED = [
    *sorted(
        p
        for layer in ("core", "data", "money", "analysis", "ops", "schedule", "notify", "watch")
        for p in (PACKAGE / layer).rglob("*.py")
    ),
    PACKAGE / "locale" / "__init__.py",
]


def _words(node: ast.AST) -> str | None:
    """English words in a literal: a string with a letter and a space, or an f-string with such text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
    else:
        return None
    return text if any(c.isalpha() for c in text) and " " in text.strip() else None


def _bare(node: ast.AST) -> bool:
    """Words in ``node`` outside a ``_()``/``N_()`` call."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("_", "N_", "gettext", "ngettext"):
        return False
    return _words(node) is not None or any(_bare(child) for child in ast.iter_child_nodes(node))


def bare_error_texts(source: str, rel: str) -> list[str]:
    """Error calls in ``source`` whose text escapes the catalogue: a message built with an f-string,
    ``+``, ``%`` or ``.format`` (Babel cannot extract it; the reader sees English), or words given as
    a value (only names, numbers and paths go there; words are ``N_("…")``)."""
    bare = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in catalog.ERROR_CLASSES:
            continue
        first = node.args[0] if node.args else None
        if (
            first is not None
            and not (isinstance(first, ast.Constant) and isinstance(first.value, str))
            and _bare(first)
        ):
            bare.append(f"{rel}:{node.lineno}: {ast.unparse(first)[:80]}")
        bare += [
            f"{rel}:{node.lineno}: {kw.arg}={ast.unparse(kw.value)[:60]}"
            for kw in node.keywords
            if _bare(kw.value)
        ]
    return bare


@pytest.mark.parametrize("path", COVERED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_error_in_the_library_carries_bare_english(path: Path) -> None:
    assert bare_error_texts(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE))) == []


def test_the_error_check_can_fail() -> None:
    src = 'raise UsageError(f"--x: {v} is bad")\nraise TariffError("{w}: x", w="a word here")\n'
    src += 'raise UsageError("--x: {v} is fine", v=v)\nraise ArtifactError("no file " + name)\n'
    assert [b.split(":")[1] for b in bare_error_texts(src, "m.py")] == ["1", "2", "4"]


def test_every_error_class_is_a_catalogue_keyword() -> None:
    """A new error class missing from ERROR_CLASSES would have its messages silently left out."""
    import importlib
    import pkgutil

    import ztbkit

    for info in pkgutil.walk_packages(ztbkit.__path__, "ztbkit."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    todo, names = [ZtbError], set()
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    names.discard("AllowListError")  # (rule, detail): its first argument is a rule's name, not a message
    assert names <= set(catalog.ERROR_CLASSES), sorted(names - set(catalog.ERROR_CLASSES))


def test_an_error_says_itself_in_the_language_in_use_and_keeps_english_in_args() -> None:
    from ztbkit.core.clock import report_date

    with pytest.raises(ZtbError) as caught:
        report_date("2025-13-45", source="--date")
    exc = caught.value
    zl.use_language("ja")
    assert str(exc) == "--date: '2025-13-45' は日付ではありません（YYYY-MM-DD で指定してください）"
    zl.use_language("en")
    assert str(exc) == exc.args[0] == "--date: '2025-13-45' is not a date (expected YYYY-MM-DD)"


@pytest.mark.parametrize(
    ("command", "japanese", "english"),
    [
        ("ztb trends-md --csv nope.csv",
         "ztb: error: nope.csv: トレンドCSVがありません（`ztb trends` で作るか、--csv で指定してください）",
         "ztb: error: nope.csv: trends CSV not found (make it with `ztb trends`, or pass --csv)"),
        ("ztb cost --correlation-id r --tariff nosuch",
         "ztb: error: --tariff: 料金プラン 'nosuch' はありません"
         "（既知のもの: jp_residential_tiered, simple、または .toml ファイルのパス）",
         "ztb: error: --tariff: unknown tariff 'nosuch' (known: jp_residential_tiered, simple, or a path to a .toml file)"),
        ("ztb doctor --correlation-id ../up",
         "ztb: error: --correlation-id '../up' にパス区切り文字が含まれています: "
         "20250929T120000Z のような一つの名前にしてください",
         "ztb: error: --correlation-id '../up' contains a path separator: it must be a single name, like 20250929T120000Z"),
        ("ztb cost --correlation-id r --out a.txt",
         "ztb: error: --out: a.txt は .json か .md で終わる名前にしてください",
         "ztb: error: --out: a.txt must end in .json or .md"),
    ],
)  # fmt: skip
def test_library_errors_reach_the_user_in_japanese_exit_2(
    tmp_path: Path, command: str, japanese: str, english: str
) -> None:
    (tmp_path / "artifacts" / "r").mkdir(parents=True)
    (tmp_path / "artifacts" / "r" / "summary.json").write_text('{"status": "stopped"}', encoding="utf-8")
    ja = sh(f"{command} --lang ja", _env(), tmp_path)
    assert (ja.returncode, ja.stderr.strip()) == (2, japanese)
    en = sh(command, _env(), tmp_path)
    assert (en.returncode, en.stderr.strip()) == (2, english)


def test_a_bad_value_for_an_option_is_one_japanese_line_after_the_usage(tmp_path: Path) -> None:
    done = sh("ztb doctor --correlation-id r --artifacts-dir s3://bucket/prefix --lang ja", _env(), tmp_path)
    assert done.returncode == 2 and done.stderr.splitlines()[-1] == (
        "エラー: '--artifacts-dir' の値が不正です: ztb doctor には URL ではなくローカルのフォルダーを指定してください"
    )


def test_a_tariff_file_error_names_the_file_in_japanese(tmp_path: Path) -> None:
    bad = tmp_path / "mine.toml"
    bad.write_text('name = "mine"\neffective_date = "2025-04-01"\n', encoding="utf-8")
    (tmp_path / "artifacts" / "r").mkdir(parents=True)
    (tmp_path / "artifacts" / "r" / "summary.json").write_text('{"status": "stopped"}', encoding="utf-8")
    done = sh(f"ztb cost --correlation-id r --tariff {bad} --kwh 1 --hours 1", _env(ZTB_LANG="ja"), tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"ztb: error: {bad}: [[tiers]] の項目が一つもありません"


def test_the_systems_own_reason_is_translated_too(tmp_path: Path) -> None:
    """An OSError's reason (glibc's "No such file or directory") is words too: /proc takes no new
    file, even from root."""
    (tmp_path / "artifacts" / "s1").mkdir(parents=True)
    (tmp_path / "artifacts" / "s1" / "summary.json").write_text('{"rl_sharpe": 1}', encoding="utf-8")
    command = "ztb trends --artifacts-dir artifacts --out /proc/ztb-trends.csv"
    ja = sh(f"{command} --lang ja", _env(), tmp_path)
    assert (ja.returncode, ja.stderr.strip()) == (
        2, "ztb: error: /proc/ztb-trends.csv: 書き込めません: ファイルまたはフォルダーがありません"
    )  # fmt: skip
    en = sh(command, _env(), tmp_path)
    assert en.stderr.strip() == "ztb: error: /proc/ztb-trends.csv: cannot write: No such file or directory"
    from ztbkit.core.errors import OutputPathError, os_reason

    exc = OutputPathError(
        "{path}: cannot write: {reason}", path="x", reason=os_reason(PermissionError(13, "Permission denied"))
    )
    zl.use_language("ja")
    assert str(exc) == "x: 書き込めません: アクセス権がありません"
    zl.use_language("en")
    assert str(exc) == "x: cannot write: Permission denied"


def test_a_translation_that_breaks_its_placeholders_still_shows_the_error(monkeypatch: Any) -> None:
    from ztbkit.core import errors

    exc = errors.UsageError("{flag}: bad {value}", flag="--x", value="1")
    monkeypatch.setattr(errors, "_translator", [lambda m: "{nope}"])
    assert str(exc) == "--x: bad 1"
