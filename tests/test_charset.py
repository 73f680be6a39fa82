"""Text encodings at every boundary (ztbkit.charset): the CLI under Windows' legacy code pages,
children in UTF-8 mode, files written by Notepad.

Windows is imitated on Linux: with stdout redirected, Windows Python encodes in the ANSI code page
(cp932 on Japanese Windows, cp1252 in Western Europe); ``PYTHONIOENCODING`` makes Linux Python do
the same. Every command runs as a real process, output redirected to files, as under cronish or
Task Scheduler.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import BOT_FIXTURES

from ztbkit.cli import cli
from ztbkit.core import charset

ZTB = Path(sys.executable).parent / ("ztb.exe" if os.name == "nt" else "ztb")
ENCODINGS = ["cp932", "cp1252"]


# ---------------------------------------------------------------------------------------------
# Every command, redirected, under a legacy code page


@dataclass
class World:
    root: Path
    artifacts: Path
    failing: str  # the session with a failed gate
    quiet: str  # a session without gates.json
    critical: set[str] = field(default_factory=set)  # sessions whose logs hold a CRITICAL line


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("enc")
    subprocess.run([str(ZTB), "demo", "--out-dir", str(root / "demo"), "--sessions", "3"], check=True,
                   capture_output=True)  # fmt: skip
    artifacts = root / "demo" / "artifacts"
    sessions = sorted(p.name for p in artifacts.iterdir() if p.is_dir())
    with_gates = [s for s in sessions if (artifacts / s / "reports" / "gates.json").is_file()]
    gates = json.loads((artifacts / with_gates[0] / "reports" / "gates.json").read_text(encoding="utf-8"))
    assert "false" in json.dumps(gates).lower(), "the demo's gates.json should hold a failed gate"
    logs = {
        s: [p.read_text(encoding="utf-8") for p in (artifacts / s / "logs").glob("*.log")] for s in sessions
    }
    critical = {s for s, texts in logs.items() if any("CRITICAL" in t for t in texts)}
    # The bot on Japanese Windows logs in cp932: doctor must show this line readably.
    with open(artifacts / with_gates[0] / "logs" / "train.log", "ab") as fh:
        fh.write(f"{CP932_LOG_LINE}\r\n".encode("cp932"))
    runs = root / "runs"
    for run in ("PPO_22", "PPO_25"):
        shutil.copytree(BOT_FIXTURES / "tensorboard" / run, runs / run)
    # A cp932 tariff (Notepad "ANSI" on Japanese Windows) with a Japanese surcharge name.
    tariff = TARIFF_TOML.replace("NAME", "再エネ賦課金").encode("cp932")
    (root / "ansi.toml").write_bytes(tariff)
    (root / "a-file").write_bytes(b"")
    # trends-md's input, made here so that no case depends on another having run first (random order)
    (root / "t").mkdir()
    subprocess.run([str(ZTB), "trends", "--artifacts-dir", str(artifacts), "--out", str(root / "t" / "input.csv")],
                   check=True, capture_output=True)  # fmt: skip
    return World(root, artifacts, with_gates[0], next(s for s in sessions if s not in with_gates), critical)


# Not encodable in cp932 (é) nor in cp1252 (データ), yet a valid file name in UTF-8 and EUC-JP locales.
MISSING = "データ_évaluation"
CP932_LOG_LINE = "2099-01-01T00:00:00+09:00 ERROR 学習プロセスが異常終了しました"
TARIFF_TOML = """name = "ansi_tariff"
effective_date = "2025-04-01"
base_fee_jpy = 935.25
[[tiers]]
up_to_kwh = 120
jpy_per_kwh = 29.8
[[tiers]]
jpy_per_kwh = 36.4
[[surcharges]]
name = "NAME"
jpy_per_kwh = 3.98
"""


@dataclass
class Case:
    args: Callable[[World], list[str]]
    code: Callable[[World], int] | int = 0
    stdin: str = ""
    env: Callable[[World], dict[str, str]] = lambda w: {}
    expect: Callable[[World, str, str], None] = lambda w, out, err: None
    encodings: tuple[str, ...] = tuple(ENCODINGS)  # the four-kernel nightly runs once, to spare the CPU


def _expect_in(out_text: str = "", err_text: str = "") -> Callable[[World, str, str], None]:
    def check(w: World, out: str, err: str) -> None:
        assert out_text in out and err_text in err

    return check


def _nightly_ok(w: World, out: str, err: str) -> None:
    lines = out.splitlines()
    # The summary lines the issue saw die: budget's line carries ¥; every step is ok.
    assert any(line.startswith("ok") and "budget" in line and "¥" in line for line in lines), out
    assert all(line.startswith("ok ") for line in lines), out
    if len(lines) == 9:  # with the notebooks (and the index line)
        for name in ("dashboard", "trends", "budget", "cost", "compare"):
            assert (w.root / "out" / "2025-10-31" / f"{name}.html").is_file()
    else:
        assert len(lines) == 4, out  # --skip-notebooks: trends.csv, trends.md, budget.md, index


def _one_line_error_naming(fragment: Callable[[World], str]) -> Callable[[World, str, str], None]:
    def check(w: World, out: str, err: str) -> None:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ztb: error: ") and fragment(w) in lines[0], err

    return check


# fmt: off
CASES: dict[str, Case] = {
    "help": Case(lambda w: ["--help"], expect=_expect_in("trends-md")),
    "trends-md --help": Case(lambda w: ["trends-md", "--help"], expect=_expect_in("▁▂▃▄▅▆▇█")),
    "demo": Case(lambda w: ["demo", "--out-dir", str(w.root / "demo2"), "--sessions", "2"],
                 expect=_expect_in("2 sessions")),
    "trends": Case(lambda w: ["trends", "--artifacts-dir", str(w.artifacts), "--out", str(w.root / "t" / "trends.csv")]),
    "trends-md": Case(lambda w: ["trends-md", "--csv", str(w.root / "t" / "input.csv"), "--out",
                                 str(w.root / "t" / "trends.md")]),
    "cost": Case(lambda w: ["cost", "--correlation-id", w.failing, "--artifacts-dir", str(w.artifacts)],
                 expect=_expect_in('"total_jpy"')),
    "cost --out md": Case(lambda w: ["cost", "--correlation-id", w.failing, "--artifacts-dir", str(w.artifacts),
                                     "--tariff", "jp_residential_tiered", "--out", str(w.root / "cost.md")],
                          expect=_expect_in("total ¥")),
    "cost --tariff cp932.toml": Case(
        lambda w: ["cost", "--correlation-id", w.failing, "--artifacts-dir", str(w.artifacts), "--tariff",
                   str(w.root / "ansi.toml")],
        expect=_expect_in("再エネ賦課金", "read as cp932"),
    ),
    "budget": Case(lambda w: ["budget", "--artifacts-dir", str(w.artifacts), "--out", str(w.root / "budget.md")]),
    "doctor": Case(lambda w: ["doctor", "--correlation-id", w.failing, "--artifacts-dir", str(w.artifacts)],
                   code=lambda w: 1 if w.failing in w.critical else 0,
                   expect=_expect_in(f"newest: train.log (cp932): {CP932_LOG_LINE}")),
    "doctor --json": Case(lambda w: ["doctor", "--correlation-id", w.quiet, "--artifacts-dir", str(w.artifacts), "--json"],
                          code=lambda w: 1 if w.quiet in w.critical else 0),
    "gates-alert --dry-run": Case(
        lambda w: ["gates-alert", "--correlation-id", w.failing, "--artifacts-dir", str(w.artifacts), "--dry-run"],
        expect=_expect_in("•"),
    ),
    "gates-alert no webhook": Case(
        lambda w: ["gates-alert", "--correlation-id", w.failing, "--artifacts-dir", str(w.artifacts),
                   "--state-dir", str(w.root)], code=1),
    "live-status --dry-run": Case(lambda w: ["live-status", "--dry-run", "--state-dir", str(w.root / "demo" / "state")]),
    "notify": Case(lambda w: ["notify", "--state-dir", str(w.root)], expect=_expect_in("0 alert(s) waiting")),
    "watch --once --dry-run": Case(lambda w: ["watch", "--once", "--dry-run", "--state-dir", str(w.root / "demo" / "state")],
                                   expect=_expect_in("dry run: ")),
    "silence list": Case(lambda w: ["silence", "list", "--state-dir", str(w.root)], expect=_expect_in("no active silences")),
    "digest --dry-run": Case(lambda w: ["digest", "--dry-run", "--state-dir", str(w.root), "--date", "2025-10-31"],
                             expect=_expect_in("not watched")),
    "notify --check": Case(lambda w: ["notify", "--check"], code=1, expect=_expect_in("FAIL")),
    "schedule-template --list": Case(lambda w: ["schedule-template", "--list"], expect=_expect_in("nightly")),
    "schedule-template nightly": Case(lambda w: ["schedule-template", "--template", "nightly"]),
    "cronish --once": Case(
        lambda w: ["cronish", "--interval-sec", "3600", "--once", "--state-file", str(w.root / "cron" / "s.json"),
                   "--name", "yen", "--", sys.executable, "-c", "print('ok')"],
    ),
    "tb-scrape": Case(lambda w: ["tb-scrape", "--run-dir", str(w.root / "runs"), "--output", str(w.root / "tb.json")]),
    "compat version": Case(lambda w: ["compat"], stdin='{"action": "version"}', expect=_expect_in('"success": true')),
    "kernel install --user": Case(lambda w: ["kernel", "install", "--user"],
                                  env=lambda w: {"JUPYTER_DATA_DIR": str(w.root / "jupyter")},
                                  expect=_expect_in("Python (ztbkit)")),
    "lab --prepare-only": Case(lambda w: ["lab", "--prepare-only", "--dir", str(w.root / "ワークスペース")],
                               expect=_expect_in("ワークスペース")),
    "dsr": Case(lambda w: ["dsr", "--sharpe", "2.5", "--observations", "1250", "--trials", "100",
                           "--sharpe-variance", "0.5", "--skew", "-3", "--kurtosis", "10", "--periods-per-year", "250"],
                expect=_expect_in("0.9004")),
    "trend-alert --dry-run": Case(lambda w: ["trend-alert", "--artifacts-dir", str(w.artifacts), "--dry-run",
                                             "--state-dir", str(w.root)]),
    "report budget": Case(lambda w: ["report", "budget", "--artifacts-dir", str(w.artifacts), "--out-dir",
                                     str(w.root / "rep")]),
    "diff": Case(lambda w: ["diff", w.failing, w.quiet, "--artifacts-dir", str(w.artifacts)],
                 expect=_expect_in("config (changed)")),
    "note": Case(lambda w: ["note", w.quiet, "checked by hand", "--artifacts-dir", str(w.artifacts)],
                 expect=_expect_in("kept: note")),
    "tag": Case(lambda w: ["tag", w.quiet, "candidate", "--artifacts-dir", str(w.artifacts)],
                expect=_expect_in("kept: tagged")),
    "dashboard": Case(lambda w: ["dashboard", "--artifacts-dir", str(w.artifacts), "--out", str(w.root / "dash.html")]),
    "nightly": Case(lambda w: ["nightly", "--artifacts-dir", str(w.artifacts), "--out-dir", str(w.root / "out"),
                               "--date", "2025-10-31"], expect=_nightly_ok, encodings=("cp932",)),
    "nightly --skip-notebooks": Case(lambda w: ["nightly", "--artifacts-dir", str(w.artifacts), "--out-dir",
                                                str(w.root / "out-s"), "--date", "2025-10-31", "--skip-notebooks"],
                                     expect=_nightly_ok, encodings=("cp1252",)),
    "missing artifacts (exit 2)": Case(lambda w: ["trends", "--artifacts-dir", str(w.root / MISSING)], code=2,
                                       expect=_one_line_error_naming(lambda w: MISSING)),
    "OSError is one line (exit 2)": Case(
        lambda w: ["trends", "--artifacts-dir", str(w.artifacts), "--out", str(w.root / "a-file" / "trends.csv")],
        code=2, expect=_one_line_error_naming(lambda w: str(w.root / "a-file")),
    ),
}
# fmt: on


def _clean_env(encoding: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "ZTB_")) and "WEBHOOK" not in k}  # fmt: skip
    env["PYTHONIOENCODING"] = encoding
    env["ZTB_LANG"] = "en"  # the expected words are English; CI's ja_JP.EUC-JP locale would choose ja
    return env


@pytest.mark.parametrize(("name", "encoding"), [(n, e) for n, c in CASES.items() for e in c.encodings])
def test_every_command_redirected_under_a_legacy_code_page(world: World, name: str, encoding: str) -> None:
    case = CASES[name]
    env = {**_clean_env(encoding), **case.env(world)}
    out_path, err_path = world.root / f"{name}.{encoding}.out", world.root / f"{name}.{encoding}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        code = subprocess.run([str(ZTB), *case.args(world)], stdout=out, stderr=err, env=env, cwd=world.root,
                              input=case.stdin.encode("utf-8"), timeout=900).returncode  # fmt: skip
    # What was written is UTF-8, whatever PYTHONIOENCODING says (strict decoding is the assertion).
    out_text, err_text = out_path.read_bytes().decode("utf-8"), err_path.read_bytes().decode("utf-8")
    assert "Traceback" not in err_text and "UnicodeEncodeError" not in err_text, err_text
    expected = case.code(world) if callable(case.code) else case.code
    assert code == expected, f"exit {code}, expected {expected}\n{out_text}\n{err_text}"
    case.expect(world, out_text, err_text)


def test_every_command_has_a_case() -> None:
    """A new command must get a case in CASES (its --help alone is checked below)."""
    dummy = World(Path("x"), Path("x"), "s", "q")
    covered = {CASES[n].args(dummy)[0] for n in CASES}
    assert set(cli.commands) <= covered, (
        f"commands without an encoding case: {sorted(set(cli.commands) - covered)}"
    )


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_help_page_redirected(world: World, encoding: str) -> None:
    """Each command's --help (and each subcommand's) as a process, under the code page."""
    pages = [[c, "--help"] for c in sorted(cli.commands)] + [["kernel", "install", "--help"]]
    for args in pages:
        r = subprocess.run([str(ZTB), *args], capture_output=True, env=_clean_env(encoding), timeout=120)
        err = r.stderr.decode("utf-8")
        assert r.returncode == 0 and "Traceback" not in err, (args, err)
        r.stdout.decode("utf-8")


@pytest.mark.windows
def test_real_windows_code_page_redirected(world: World) -> None:
    """Windows: no PYTHONIOENCODING, the machine's own ANSI code page (cp932 on Japanese Windows)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and "WEBHOOK" not in k}
    for args in (["trends-md", "--help"],
                 ["nightly", "--artifacts-dir", str(world.artifacts), "--out-dir", str(world.root / "win"),
                  "--date", "2025-10-31", "--skip-notebooks"]):  # fmt: skip
        with open(world.root / "win.out", "wb") as out, open(world.root / "win.err", "wb") as err:
            code = subprocess.run([str(ZTB), *args], stdout=out, stderr=err, env=env, timeout=600).returncode
        text = (world.root / "win.out").read_bytes().decode("utf-8")
        assert code == 0 and "Traceback" not in (world.root / "win.err").read_bytes().decode("utf-8")
        assert "▁" in text or "¥" in text


# ---------------------------------------------------------------------------------------------
# The stream policy itself, on fake streams


class _Stream(io.TextIOWrapper):
    def __init__(self, encoding: str, tty: bool) -> None:
        self.raw_bytes = io.BytesIO()
        super().__init__(self.raw_bytes, encoding=encoding, errors="strict")
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_redirected_stream_becomes_utf8() -> None:
    s = _Stream("cp932", tty=False)
    charset.setup_stdio((s,))
    s.write("¥1,556 – ▁ 🚀 \udcff")
    s.flush()
    assert s.raw_bytes.getvalue() == "¥1,556 – ▁ 🚀 ".encode() + b"\\udcff"


def test_console_keeps_its_code_page_and_escapes_what_it_cannot_show() -> None:
    s = _Stream("cp932", tty=True)
    charset.setup_stdio((s,))
    s.write("日本 ¥ ▁")
    s.flush()
    # cp932 has 日本 and the fullwidth yen but not U+00A5 or U+2581: escaped, never an exception.
    assert s.raw_bytes.getvalue() == "日本 ".encode("cp932") + b"\\xa5 \\u2581"


def test_streams_that_are_not_text_wrappers_are_left_alone() -> None:
    sio = io.StringIO()
    charset.setup_stdio((sio, None))
    sio.write("¥")
    assert sio.getvalue() == "¥"


# ---------------------------------------------------------------------------------------------
# Children and decoding


def test_child_env_puts_python_children_in_utf8_mode() -> None:
    env = charset.child_env({"PATH": os.environ["PATH"], "PYTHONIOENCODING": "cp932", "LC_ALL": "C"})
    code = "import sys, locale; print(sys.flags.utf8_mode, sys.stdout.encoding, locale.getpreferredencoding(False))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True).stdout
    assert out.decode().split() == ["1", "utf-8", "utf-8"]


def test_report_workers_and_their_kernels_run_in_utf8_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when the parent says otherwise (UTF-8 mode off, a cp932 stdio encoding)."""
    import nbformat

    from ztbkit.reports.runner import render_reports

    monkeypatch.setenv("PYTHONUTF8", "0")
    monkeypatch.setenv("PYTHONIOENCODING", "cp932")
    probe = ("import sys, locale\n"
             "print('worker-env', sys.flags.utf8_mode, locale.getpreferredencoding(False), '¥▁')")  # fmt: skip
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(probe)]
    )
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "probe.ipynb")
    [result] = render_reports([str(tmp_path / "probe.ipynb")], artifacts_dir=tmp_path, out_dir=tmp_path / "o")
    assert result.status == "ok", result.error
    md = (tmp_path / "o" / "probe.md").read_text(encoding="utf-8")
    assert "worker-env 1 utf-8 ¥▁" in md


def test_decode_output_falls_back_to_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    assert charset.decode_output("¥ ▁".encode()) == "¥ ▁"
    monkeypatch.setattr("locale.getpreferredencoding", lambda do_setlocale=True: "cp932")
    assert charset.decode_output("ログ 失敗".encode("cp932")) == "ログ 失敗"
    monkeypatch.setattr("locale.getpreferredencoding", lambda do_setlocale=True: "ascii")
    assert charset.decode_output(b"ok \x83\x8d") == "ok \ufffd\ufffd"


def test_decode_text_bom_utf8_and_cp932() -> None:
    assert charset.decode_text(b"\xef\xbb\xbfname = 1") == ("name = 1", None)
    assert charset.decode_text("料金".encode("cp932")) == ("料金", "cp932")
    with pytest.raises(UnicodeDecodeError):
        charset.decode_text(b"\x81\x00\xff")  # neither UTF-8 nor cp932


def test_decode_line_per_line() -> None:
    assert charset.decode_line("失敗\n".encode()) == ("失敗\n", False)
    assert charset.decode_line("失敗\r\n".encode("cp932")) == ("失敗\r\n", True)
    assert charset.decode_line(b"bad \x81\x7f\n") == ("bad \ufffd\x7f\n", False)  # neither: U+FFFD
