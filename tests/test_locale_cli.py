"""ztb dsr, ztb lab, ztb tb-scrape and ztb compat in Japanese: what a person reads is Japanese, what a
program reads (``--json``, the scrape file, compat's answer) is the same bytes in both languages."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import MakeTree, sh

from ztbkit.cli import cli

DSR = ("dsr --sharpe 2.5 --observations 1250 --trials 100 --sharpe-variance 0.5 --skew -3 --kurtosis 10 "
       "--periods-per-year 250")  # fmt: skip


def _run(lang: str, args: list[str], **kw: Any) -> Any:
    result = CliRunner().invoke(cli, ["--lang", lang, *args], **kw)
    assert result.exit_code == 0, result.output
    return result


def test_dsr_in_japanese_lines_up_and_its_json_does_not_change() -> None:
    ja = _run("ja", DSR.split()).stdout.splitlines()
    assert ja[0].startswith("DSR（真のSR > SR0 の確率）:") and ja[0].endswith("0.9004")
    assert ja[2].endswith("1.7894（年率、N=100、V=0.5）") and ja[3].endswith("2,052観測（8.2年）")
    # Full-width characters take two columns: the values start in one column on a terminal.
    from ztbkit.core.formatting import text_width

    def value_column(line: str) -> int:
        label, rest = line.split(":", 1)
        return text_width(label) + 1 + len(rest) - len(rest.lstrip())

    assert len({value_column(line) for line in ja}) == 1, ja
    en = _run("en", DSR.split()).stdout
    assert en.splitlines()[3] == "MinTRL vs SR0 (95 %):       2,052 observations (8.2 years)"
    assert _run("ja", [*DSR.split(), "--json"]).stdout == _run("en", [*DSR.split(), "--json"]).stdout


def test_lab_prepare_only_in_japanese(tmp_path: Path) -> None:
    first = _run("ja", ["lab", "--dir", str(tmp_path / "nb"), "--prepare-only"]).stdout.splitlines()
    assert "compare.ipynb: 作成しました" in first
    assert first[-1] == f"ノートブックの作業フォルダー {tmp_path / 'nb'}：作成 5件"
    again = _run("ja", ["lab", "--dir", str(tmp_path / "nb"), "--prepare-only"]).stdout
    assert again == f"ノートブックの作業フォルダー {tmp_path / 'nb'}：最新 5件\n"


def test_tb_scrape_says_what_it_wrote_in_japanese_and_writes_the_same_json(tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter

    w = SummaryWriter(str(tmp_path / "runs" / "r1"))
    w.add_scalar("train/loss", 0.5, 10)
    w.close()
    for lang in ("ja", "en"):
        out = tmp_path / f"{lang}.json"
        said = _run(
            lang, ["tb-scrape", "--run-dir", str(tmp_path / "runs"), "--output", str(out), "--no-cache"]
        )
        if lang == "ja":
            assert said.stdout == (
                f"{out} を書き出しました：1ラン。ファイルの読み込み 全体 1件、追記分のみ 0件、変更なし 0件\n"
            )
    assert (tmp_path / "ja.json").read_bytes() == (tmp_path / "en.json").read_bytes()


def _words(answer: str) -> str:
    """The answer with its measurements (free space, write timings: doctor's disk check) as N."""
    import re

    return re.sub(r"\d+(\.\d+)?", "N", answer)


def test_compat_answers_in_english_in_every_language(tmp_path: Path, make_tree: MakeTree) -> None:
    """compat's answer is read by the bot's code: English and the same under --lang ja, ZTB_LANG=ja
    and a Japanese locale (but for doctor's measured free space and timings), for an answer with
    doctor's details and for errors."""
    root = make_tree({"run1": {"summary.json": {"global_step": 10, "rl_sharpe": 1.0}}})
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
           "LANG": "C.UTF-8"}  # fmt: skip
    requests = ['{"action": "doctor", "params": {"correlation_id": "run1"}}', '{"action": "nope"}',
                '{"action": "doctor", "params": {"correlation_id": "ghost"}}']  # fmt: skip
    for request in requests:
        cmd = (
            f"printf '%s' '{request}' | ztb LANGFLAGcompat --artifacts-dir '{root}' --state-dir '{tmp_path}'"
        )
        english = sh(cmd.replace("LANGFLAG", ""), env, tmp_path)
        assert english.stdout.startswith('{"') and english.stdout.isascii(), english.stderr
        for lang, extra in (("--lang ja ", {}), ("", {"ZTB_LANG": "ja"}), ("", {"LANG": "ja_JP.EUC-JP"})):
            japanese = sh(cmd.replace("LANGFLAG", lang), {**env, **extra}, tmp_path)
            assert (_words(japanese.stdout), japanese.returncode) == (
                _words(english.stdout),
                english.returncode,
            )
