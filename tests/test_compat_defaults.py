"""#25 case 1: compat checks the path every option will really use, given or left to its default,
and keeps every cache it causes off; the capability list in docs/compat.md is the code's."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
from conftest import BOT_FIXTURES, REPO

from ztbkit.cli import cli
from ztbkit.cli.allowlist import COMPUTED_DEFAULTS, REPORT_COMMANDS, effective_defaults
from ztbkit.cli.compat import handle

SUMMARY = {"global_step": 100, "rl_sharpe": 1.2, "wall_clock_duration_hours": 1.0}
COST = {"total_cost_jpy": 12.5, "gpu_hours": 1.0}


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """compat's working folder holds the bot's real ./artifacts, ./runs, ./reports (none a root); the
    only root is `root/` (plus the default outputs/, inside the working folder)."""
    cwd, root = tmp_path / "cwd", tmp_path / "root"
    for base in (cwd / "artifacts", root):
        (base / "s1" / "reports").mkdir(parents=True)
        (base / "s1" / "summary.json").write_text(json.dumps(SUMMARY), encoding="utf-8")
        (base / "s1" / "reports" / "cost_estimate.json").write_text(json.dumps(COST), encoding="utf-8")
    event = next((BOT_FIXTURES / "tensorboard" / "evaluation").glob("events.out.tfevents.*"))
    for runs in (cwd / "runs" / "r1", root / "runs" / "r1"):
        runs.mkdir(parents=True)
        shutil.copy(event, runs / event.name)
    (cwd / "trends.csv").write_text(
        "session_id,global_step,rl_sharpe,dsr,p_value\ns1,1,1,,\n", encoding="utf-8"
    )
    (cwd / "artifacts" / "trends.csv").write_text("session_id,global_step\ns1,1\n", encoding="utf-8")
    monkeypatch.chdir(cwd)
    return {"cwd": cwd, "root": root, "cache": Path(os.environ["XDG_CACHE_HOME"])}


def ask(command: list[str], root: Path) -> dict[str, Any]:
    request = {"action": "run", "params": {"command": ["ztb", *command], "timeout": 120}}
    return handle(json.dumps(request), artifacts_dir=root, state_dir=root, env={}, config=None)


# The requests of the issue: each answered success: true and read or wrote outside the roots.
ESCAPING = [["budget"], ["trends"], ["dashboard"], ["tb-scrape"], ["trends-md"], ["doctor", "--correlation-id", "s1"],
            ["cost", "--correlation-id", "s1"], ["budget", "--artifacts-dir", "ROOT"],
            ["trends-md", "--csv", "ROOT/trends.csv"], ["doctor", "--correlation-id", "s1", "--artifacts-dir", "ROOT"],
            ["tb-scrape", "--output", "ROOT/tb.json"], ["trends", "--out", "ROOT/t.csv"],
            ["dashboard", "--out", "ROOT/d.html"]]  # fmt: skip


@pytest.mark.parametrize("command", ESCAPING, ids=lambda c: " ".join(c))
def test_a_path_option_left_out_is_checked_where_the_command_will_use_it(
    world: dict[str, Path], command: list[str]
) -> None:
    argv = [a.replace("ROOT", str(world["root"])) for a in command]
    before = {k: snapshot(world[k]) for k in ("cwd", "cache")}
    response = ask(argv, world["root"])
    assert response["success"] is False, response
    assert response["error"].startswith("refused by rule 'paths-inside-roots'"), response
    assert "left out defaults to" in response["error"] and "returncode" not in response, response
    assert {k: snapshot(world[k]) for k in ("cwd", "cache")} == before


@pytest.mark.parametrize(
    "command",
    [["trends", "--artifacts-dir", "ROOT"], ["tb-scrape", "--run-dir", "ROOT/runs"],
     ["budget", "--artifacts-dir", "ROOT", "--out", "ROOT/b.md"],
     ["cost", "--correlation-id", "s1", "--artifacts-dir", "ROOT", "--kwh", "1", "--kwh-rate", "30"],
     ["trends-md", "--csv", "ROOT/s1/summary.json", "--out", "outputs/t.md"]],
    ids=lambda c: c[0],
)  # fmt: skip
def test_with_every_path_inside_the_roots_it_runs_and_writes_nothing_outside(
    world: dict[str, Path], command: list[str]
) -> None:
    """The defaults that are inside (trends' <artifacts-dir>/trends.csv) pass; tb-scrape keeps no
    cache (neither in the run folder nor in the user's cache folder)."""
    argv = [a.replace("ROOT", str(world["root"])) for a in command]
    before = {k: snapshot(world[k]) for k in ("cwd", "cache")}
    response = ask(argv, world["root"])
    if argv[0] == "trends-md":  # a summary is not a trends CSV: exit 2, but still it ran (was allowed)
        assert response["returncode"] == 2, response
    else:
        assert response["success"] is True, response
    after = {k: snapshot(world[k]) for k in ("cwd", "cache")}
    after["cwd"] = {k: v for k, v in after["cwd"].items() if not k.startswith("outputs")}
    assert after == before
    if argv[0] == "trends":
        assert (world["root"] / "trends.csv").is_file()  # where effective_defaults said it would be
    if argv[0] == "tb-scrape":
        assert not (world["root"] / "runs" / ".ztb-tb-cache.json").exists()


def test_the_computed_default_rule_is_where_the_command_writes(world: dict[str, Path]) -> None:
    """The table is not a guess: trends without --out writes exactly where the rule points."""
    from click.testing import CliRunner

    command = cli.commands["trends"]
    target = effective_defaults("trends", command, {"artifacts_dir": str(world["root"])}, {})["--out"]
    assert target == f"{world['root']}/trends.csv"
    result = CliRunner().invoke(cli, ["trends", "--artifacts-dir", str(world["root"])])
    assert result.exit_code == 0, result.output
    assert Path(target).is_file() and str(target) in result.output
    helps = {
        c: next(p.help for p in cli.commands[c].params if "--out" in p.opts) for c in ("trends", "dashboard")
    }
    assert "[default: <artifacts-dir>/trends.csv]" in str(helps["trends"])  # the rule users read
    assert "[default: <artifacts-dir>/dashboard.html]" in str(helps["dashboard"])


def test_every_path_option_of_a_report_command_has_a_known_default() -> None:
    """A path option whose click default is None must be in COMPUTED_DEFAULTS (else compat refuses
    it when left out): a new option cannot slip past the roots. No stale entry either."""
    unknown = []
    for name in sorted(REPORT_COMMANDS):
        for param in cli.commands[name].params:
            if isinstance(param, click.Option) and param.type.name == "path":
                default = param.default() if callable(param.default) else param.default
                if (
                    not isinstance(default, str | os.PathLike)
                    and (name, param.opts[-1]) not in COMPUTED_DEFAULTS
                ):
                    unknown.append((name, param.opts[-1]))
    assert unknown == []
    for name, flag in COMPUTED_DEFAULTS:
        assert any(flag in p.opts for p in cli.commands[name].params), (name, flag)


def test_compat_docs_list_exactly_the_allowed_and_the_refused_commands() -> None:
    """docs/compat.md names the allowed commands in one sentence and the refused ones in the next;
    together they are every ztb command."""
    text = (REPO / "docs" / "compat.md").read_text(encoding="utf-8")
    allowed_line = re.search(r"allowed by capability: only (.*?)\(read and report", text, re.S)
    refused_line = re.search(r"Refused whatever the config says: (.*?)\.\s", text, re.S)
    assert allowed_line and refused_line, "docs/compat.md lost its capability sentences"
    allowed = set(re.findall(r"`([a-z-]+)`", allowed_line.group(1)))
    refused = set(re.findall(r"`([a-z-]+)`", refused_line.group(1)))
    assert allowed == set(REPORT_COMMANDS)
    assert refused == set(cli.commands) - set(REPORT_COMMANDS), refused ^ (
        set(cli.commands) - set(REPORT_COMMANDS)
    )
    for name in refused:
        response = handle(json.dumps({"action": "run", "params": {"command": ["ztb", name]}}),
                          artifacts_dir=Path("."), state_dir=Path("."), env={}, config=None)  # fmt: skip
        assert response["error"].startswith("refused by rule 'report-commands-only'"), response
