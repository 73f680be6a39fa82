"""Error lines a trader reads, in Japanese, as pasted: a bad cronish job file, a bad webhook URL or
delivery setting, a bad watch.toml path, an unreadable state file — one line naming the file and
the key, exit 2, English by default; a webhook URL never printed whole."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import sh

SECRET = "SECRETtoken0123456789abcdef"


def _env(**extra: str) -> dict[str, str]:
    """A clean environment, as cron gives: no ZTB_LANG, no LANG (so English unless --lang says)."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    return {**env, **extra}


def _japanese(text: str) -> bool:
    return any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in text)


JOB = {"name": "nightly", "cron": "30 6 * * *", "ztb": ["nightly"], "timeout_sec": 7200}


@pytest.mark.parametrize(
    ("change", "japanese", "english"),
    [
        ({"timout_sec": 60},  # a misspelt key used to be ignored, and the job run with no bound
         "jobs.json: jobs[0]: 不明なキー 'timout_sec' です（使えるキー: command, cron, interval_sec, name, "
         "schedule, shell, template, timeout_sec, timezone, ztb）",
         "jobs.json: jobs[0]: unknown key 'timout_sec' (known: command, cron, interval_sec, name, schedule, "
         "shell, template, timeout_sec, timezone, ztb)"),
        ({"cron": "61 6 * * *"},
         "jobs.json: jobs[0]: ジョブ 'nightly': '61 6 * * *' は5項目の cron 式ではありません",
         "jobs.json: jobs[0]: job 'nightly': '61 6 * * *' is not a 5-field cron expression"),
        ({"cron": "0 0 31 2 *"},
         "jobs.json: jobs[0]: ジョブ 'nightly': '0 0 31 2 *' は一度も実行されません（存在しない日付です）",
         "jobs.json: jobs[0]: job 'nightly': '0 0 31 2 *' never fires (no such date)"),
        ({"timeout_sec": "2h"},
         "jobs.json: jobs[0]: ジョブ 'nightly': 'timeout_sec' は 0 より大きく 2592000 以下の秒数（数値）にしてください"
         "（指定値: '2h'）",
         "jobs.json: jobs[0]: job 'nightly': 'timeout_sec' must be a number of seconds, more than 0 and at most "
         "2592000 (got '2h')"),
        ({"cron": None, "interval_sec": 0.5},
         "jobs.json: jobs[0]: ジョブ 'nightly': 'interval_sec' は 1 以上 31622400 以下の秒数（数値）にしてください"
         "（指定値: 0.5）",
         "jobs.json: jobs[0]: job 'nightly': 'interval_sec' must be a number of seconds, at least 1 and at most "
         "31622400 (got 0.5)"),
        ({"timezone": "Asia/Tokio"},
         "jobs.json: jobs[0]: ジョブ 'nightly': タイムゾーン 'Asia/Tokio' は不明です",
         "jobs.json: jobs[0]: job 'nightly': unknown time zone 'Asia/Tokio'"),
        ({"shell": "yes"},
         "jobs.json: jobs[0]: 'shell' は true か false にしてください（指定値: 'yes'）",
         "jobs.json: jobs[0]: 'shell' must be true or false (got 'yes')"),
        ({"name": "../up"},
         "jobs.json: jobs[0]: ジョブ名 '../up' にパス区切り文字が含まれています: ジョブ名は一つのファイル名にしてください",
         "jobs.json: jobs[0]: name '../up' contains a path separator: a job name must be a single file name"),
        ({"ztb": None},
         "jobs.json: jobs[0]: ジョブ 'nightly': 実行するコマンドがありません",
         "jobs.json: jobs[0]: job 'nightly': no command to run"),
        ({"ztb": None, "command": 42},
         "jobs.json: jobs[0]: 'command' は文字列のリストにしてください（\"shell\": true なら文字列も可）",
         "jobs.json: jobs[0]: 'command' must be a list of strings (or a string with \"shell\": true)"),
    ],
    ids=["unknown-key", "bad-cron", "no-such-date", "bad-timeout", "short-interval", "bad-zone", "bad-type",
         "bad-name", "no-command", "bad-command"],
)  # fmt: skip
def test_a_bad_cronish_job_file_is_one_line_naming_file_and_key_in_the_language_chosen(
    tmp_path: Path, change: dict[str, object], japanese: str, english: str
) -> None:
    job = {k: v for k, v in {**JOB, **change}.items() if v is not None}
    (tmp_path / "jobs.json").write_text(json.dumps({"jobs": [job]}), encoding="utf-8")
    command = "ztb cronish --config jobs.json --once --state-file state.json"
    ja = sh(f"{command} --lang ja", _env(), tmp_path)
    assert (ja.returncode, ja.stderr, ja.stdout) == (2, f"ztb: error: {japanese}\n", "")
    by_env = sh(command, _env(ZTB_LANG="ja"), tmp_path)
    assert (by_env.returncode, by_env.stderr) == (2, f"ztb: error: {japanese}\n")
    en = sh(command, _env(), tmp_path)
    assert (en.returncode, en.stderr, en.stdout) == (2, f"ztb: error: {english}\n", "")
    assert not (tmp_path / "state.json").exists()  # nothing ran, nothing recorded


def test_a_job_file_that_is_not_json_names_the_file_in_japanese(tmp_path: Path) -> None:
    (tmp_path / "jobs.json").write_text('{"jobs": [', encoding="utf-8")
    done = sh("ztb cronish --config jobs.json --once --lang ja", _env(), tmp_path)
    line = done.stderr.strip()
    assert done.returncode == 2 and line.startswith("ztb: error: --config: jobs.json: ") and _japanese(line)
    assert len(done.stderr.splitlines()) == 1


def test_a_schedule_templates_json_is_still_a_valid_job_file(tmp_path: Path) -> None:
    """The unknown-key check knows every key ``ztb schedule-template`` writes."""
    made = sh("ztb schedule-template --template nightly --output nightly.json", _env(), tmp_path)
    assert made.returncode == 0, made.stderr
    done = sh("ztb cronish --config nightly.json --once --max-catchup 0 --state-file s.json --lang ja",
              _env(), tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr


@pytest.mark.parametrize(
    ("where", "url", "shown"),
    [
        ("--discord-webhook", f"https://discord.com:99999/api/webhooks/123/{SECRET}", "****"),
        ("ZTB_DISCORD_WEBHOOK", f"ftp://discord.com/api/webhooks/123/{SECRET}?wait=1",
         "ftp://discord.com/api/webhooks/123/****?****"),
        ("SLACK_WEBHOOK_URL", f"hooks.slack.com/services/T0/B0/{SECRET}", "****"),
    ],
)  # fmt: skip
def test_a_bad_webhook_url_is_said_in_japanese_with_the_url_redacted(
    tmp_path: Path, where: str, url: str, shown: str
) -> None:
    (tmp_path / "state").mkdir()
    flag = f"{where} '{url}'" if where.startswith("--") else ""
    env = _env() if flag else _env(**{where: url})
    done = sh(f"ztb live-status --state-dir state {flag} --lang ja", env, tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"ztb: error: {where}: 有効なホストとポートを持つ http(s) の Webhook URL ではありません（{shown}）\n"
    )
    assert SECRET not in done.stdout + done.stderr
    en = sh(f"ztb live-status --state-dir state {flag}", env, tmp_path)
    assert en.returncode == 2 and SECRET not in en.stderr
    assert (
        en.stderr == f"ztb: error: {where}: not an http(s) webhook URL with a valid host and port ({shown})\n"
    )


def test_a_bad_delivery_setting_names_the_variable_in_japanese(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    env = _env(ZTB_WEBHOOK_TIMEOUT_SEC="soon")
    command = (
        "ztb live-status --state-dir state --discord-webhook http://127.0.0.1:9/api/webhooks/1/tok --lang ja"
    )
    done = sh(command, env, tmp_path)
    assert (done.returncode, done.stderr) == (
        2, "ztb: error: ZTB_WEBHOOK_TIMEOUT_SEC: 86400（1日）以下の正の秒数を指定してください（指定値: 'soon'）\n"
    )  # fmt: skip


def test_a_watch_config_that_cannot_be_read_names_it_in_japanese(tmp_path: Path) -> None:
    (tmp_path / "watch.toml").mkdir()  # a folder where the file belongs
    done = sh("ztb watch --once --dry-run --config watch.toml --lang ja", _env(), tmp_path)
    assert (done.returncode, done.stderr) == (
        2, "ztb: error: --config: watch.toml: フォルダーです。ファイルを指定してください\n"
    )  # fmt: skip


def test_a_scheduler_state_path_that_is_a_folder_is_refused_in_japanese(tmp_path: Path) -> None:
    (tmp_path / "locks" / "tick.lock").mkdir(parents=True)
    command = "ztb cronish --name tick --interval-sec 60 --once --state-file state.json --lang ja -- true"
    done = sh(command, _env(), tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().endswith(
        "tick.lock: フォルダーです。スケジューラーがこのパスを使えるよう削除してください"
    ), done.stderr


def test_an_unreadable_trend_alert_state_says_so_in_japanese(tmp_path: Path) -> None:
    assert sh("ztb demo --out-dir demo", _env(), tmp_path).returncode == 0
    state = tmp_path / "state" / ".ztb"
    state.mkdir(parents=True)
    (state / "trend-alert-state.json").write_text("[1, 2]", encoding="utf-8")
    command = "ztb trend-alert --artifacts-dir demo/artifacts --state-dir state --dsr-below 0.99 --lang ja"
    done = sh(command, _env(), tmp_path)  # the newest demo session is below 0.99: the ledger is read
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "ztb: error: state/.ztb/trend-alert-state.json: "
        "トレンド通知の状態ファイルを読めません（オブジェクトではありません）。別の場所へ移してください"
    )


# --- why a file was skipped: the tolerant reader's reasons -----------------------------------------


def test_the_nightlys_skipped_file_lines_are_japanese_also_from_the_load_cache(tmp_path: Path) -> None:
    """The demo tree has a truncated summary.json and an index entry without a folder. The reasons
    are said in Japanese, file names as they are; the second night reads them from the load cache
    (kept as templates there), and says them in Japanese too — and in English without --lang."""
    env = _env(XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert sh("ztb demo --out-dir demo", env, tmp_path).returncode == 0
    command = "ztb nightly --artifacts-dir demo/artifacts --out-dir out --skip-notebooks"
    want_ja = [
        "warning: demo/artifacts/20250923T192040Z: index.json に載っていますが、フォルダーがありません",
        "warning: demo/artifacts/20251013T130144Z/summary.json: 途中で切れた JSON です（ファイルが途中で終わっています）: "
        "文字列が閉じていません（6 行 18 列）",
    ]
    want_en = [
        "warning: demo/artifacts/20250923T192040Z: listed in index.json but the folder is missing",
        "warning: demo/artifacts/20251013T130144Z/summary.json: truncated JSON (the file ends early): "
        "Unterminated string starting at (line 6, column 18)",
    ]
    for lang, want in (("ja", want_ja), ("ja", want_ja), ("en", want_en)):  # the second and third: cached
        done = sh(f"{command} --lang {lang}", env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert [line for line in done.stderr.splitlines() if line.startswith("warning:")] == want
    assert list((tmp_path / "cache").rglob("*.parquet")), "the load cache was used"


def test_doctor_in_japanese_says_every_check_and_judges_it_as_in_english(tmp_path: Path) -> None:
    """Same statuses, same Doctor Summary line (machine-read) and exit code in both languages: a
    check judged on its words (the webhook check once was) would turn a WARN into a FAIL in Japanese."""
    assert sh("ztb demo --out-dir demo", _env(), tmp_path).returncode == 0
    command = "ztb doctor --artifacts-dir demo/artifacts --correlation-id 20251013T130144Z"
    ja = sh(f"{command} --lang ja", _env(), tmp_path)
    en = sh(command, _env(), tmp_path)
    assert (ja.returncode, en.returncode) == (1, 1)
    ja_lines, en_lines = ja.stdout.splitlines(), en.stdout.splitlines()
    assert ja_lines[-1] == en_lines[-1] and ja_lines[-1].startswith("Doctor Summary: OK=")
    assert [line[:7] for line in ja_lines[:-2]] == [line[:7] for line in en_lines[:-2]]  # [OK  ] [WARN] ...
    for line in (
        "[FAIL] validate_artifacts: 読み取れないファイル 1件：demo/artifacts/20251013T130144Z/summary.json: "
        "途中で切れた JSON です（ファイルが途中で終わっています）: 文字列が閉じていません（6 行 18 列）",
        "[WARN] webhook: Webhook が設定されていません（ZTB_DISCORD_WEBHOOK または SLACK_WEBHOOK_URL）",
        "[OK  ] schedule: .ztb/cronish-state.json にスケジューラーの状態ファイルがありません",
        "[OK  ] outbox: .ztb に送信待ちはありません",
        "[WARN] watch_state: .ztb の状態で ztb watch が実行されたことがありません（README の「Watching the bot」）",
        "詳細: demo/artifacts/20251013T130144Z/reports/doctor.txt",
    ):
        assert line in ja_lines, (line, ja.stdout)


def test_doctor_judges_scheduler_jobs_in_japanese(tmp_path: Path) -> None:
    ztb = tmp_path / ".ztb"
    ztb.mkdir()
    state = {"version": 1, "jobs": {
        "nightly": {"status": "failed", "exit_code": 3, "last_slot": "2025-10-04T21:30:00+00:00",
                    "schedule": {"cron": "30 6 * * *", "timezone": "Asia/Tokyo"}},
        "odd": {"runs": -1},
    }}  # fmt: skip
    (ztb / "cronish-state.json").write_text(json.dumps(state), encoding="utf-8")
    (tmp_path / "artifacts" / "r").mkdir(parents=True)
    (tmp_path / "artifacts" / "r" / "summary.json").write_text('{"status": "stopped"}', encoding="utf-8")
    done = sh("ztb doctor --correlation-id r --json --lang ja", _env(), tmp_path)
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    schedule = checks["schedule"]
    assert schedule["status"] == "FAIL"
    assert schedule["reason"].startswith("nightly: 前回の実行は failed: 終了コード 3")
    assert ".ztb/cronish-state.json: jobs.odd: 'runs' -1 は件数ではありません" in schedule["details"]
    assert any(d.startswith("nightly: 枠 ") and "を逃しました" in d for d in schedule["details"])
    assert schedule["reason"].endswith("（ほか 2件。詳細を参照）")


@pytest.mark.parametrize(
    ("content", "japanese"),
    [
        (b"", "ファイルが空です"),
        (b"\xff{}", "UTF-8 のテキストではありません（オフセット 0 のバイトが不正）"),
        (b'{"a": 1,}', "不正な JSON です: ダブルクォートで囲んだキー名がありません（1 行 9 列）"),
        (b"[" * 100_000, "JSON の入れ子が深すぎて読めません"),
    ],
)
def test_every_reason_the_reader_gives_is_said_in_japanese_and_kept_english_underneath(
    tmp_path: Path, content: bytes, japanese: str
) -> None:
    from ztbkit import locale as zl
    from ztbkit.core.jsonread import Problem, read_json

    path = tmp_path / "f.json"
    path.write_bytes(content)
    problem = read_json(path).problem
    assert problem is not None
    english = str(problem)
    try:
        zl.use_language("ja")
        assert str(problem) == f"{path}: {japanese}"
        assert str(Problem(*problem.to_json())) == f"{path}: {japanese}"  # as the cache gives it back
        assert str(Problem(*json.loads(json.dumps(problem.to_json())))) == f"{path}: {japanese}"
    finally:
        zl.use_language("en")
    assert str(problem) == english == f"{path}: {problem.reason}"  # logs and comparisons see English


def test_a_broken_translation_still_shows_the_english_reason() -> None:
    from ztbkit.core import errors

    reason = errors.Reason("file is {size}, over the {limit} limit", size="2 MB", limit="1 MB")
    saved = errors._translator[0]
    errors.set_translator(lambda m: m + " {missing}")  # a translation naming a placeholder that is not there
    try:
        assert errors.shown(reason) == "file is 2 MB, over the 1 MB limit"
    finally:
        errors.set_translator(saved)


def test_a_notepad_ansi_tariff_is_read_with_a_japanese_warning(tmp_path: Path) -> None:
    from test_tariffs import NOTEPAD_TARIFF

    (tmp_path / "tokyo.toml").write_bytes(NOTEPAD_TARIFF.replace("\n", "\r\n").encode("cp932"))
    session = tmp_path / "artifacts" / "r"
    session.mkdir(parents=True)
    (session / "summary.json").write_text('{"status": "stopped"}', encoding="utf-8")
    command = "ztb cost --correlation-id r --tariff tokyo.toml --kwh 1.2 --hours 1"
    done = sh(f"{command} --lang ja", _env(), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == (
        "warning: tokyo.toml: UTF-8 ではないため cp932（Windows の ANSI）として読みました。"
        "UTF-8 で保存し直すとこの警告は出なくなります"
    )
    en = sh(command, _env(), tmp_path)
    assert en.stderr.splitlines()[0] == (
        "warning: tokyo.toml: not UTF-8, read as cp932 (Windows ANSI); save it as UTF-8 to silence this"
    )


def test_trend_alerts_check_and_skipped_lines_are_japanese(tmp_path: Path) -> None:
    """The REGRESSED/ok column stays English (log readers grep it); the numbers' words are Japanese."""
    assert sh("ztb demo --out-dir demo", _env(), tmp_path).returncode == 0
    command = "ztb trend-alert --artifacts-dir demo/artifacts --dry-run --metric rl_sharpe --lang ja"
    checked = sh(command, _env(), tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert (
        "ok        rl_sharpe: 1.969（中央値 1.901、MAD 0.118、しきい値 1.547、n=10）"
        in checked.stdout.splitlines()
    )
    skipped = sh(f"{command} --window 2", _env(), tmp_path)
    assert "スキップ：rl_sharpe: 過去の値が 2件しかありません（3件必要）" in skipped.stdout.splitlines()
    english = sh(command.replace(" --lang ja", " --window 2"), _env(), tmp_path)
    assert "rl_sharpe: 2 earlier value(s), need 3" in english.stdout


# --- the guard: a reason written as bare English would never be translated ---------------------------

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ztbkit"
LAYERS = ("core", "data", "money", "analysis", "ops", "schedule", "notify", "watch")


def bare_reasons(source: str, rel: str) -> list[str]:
    """``Problem(path, <literal words or an f-string>)`` calls: the reason must be a ``Reason`` (or a
    value that already is one), else it shows in English in every language."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Problem" and len(node.args) >= 2:
            why = node.args[1]
            if isinstance(why, ast.JoinedStr) or (
                isinstance(why, ast.Constant) and isinstance(why.value, str)
            ):
                found.append(f"{rel}:{node.lineno}: {ast.unparse(why)[:70]}")
    return found


@pytest.mark.parametrize(
    "path",
    sorted(p for layer in LAYERS for p in (PACKAGE / layer).rglob("*.py")),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_skipped_file_reason_is_bare_english(path: Path) -> None:
    assert bare_reasons(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE))) == []


def test_the_reason_check_can_fail() -> None:
    src = 'Problem(p, f"cannot read {x}")\nProblem(p, "gone")\nProblem(p, Reason("gone"))\nProblem(p, why)\n'
    assert [line.split(":")[1] for line in bare_reasons(src, "m.py")] == ["1", "2"]
