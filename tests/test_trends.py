from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MakeTree, write

from ztbkit import InputFileError, load_artifacts, read_trends_csv, sparkline, write_trends_csv
from ztbkit.analysis.trends import TrendRow, TrendTable, trends_markdown, write_trends_markdown
from ztbkit.cli import cli
from ztbkit.core.clock import FakeClock

CLOCK = FakeClock(datetime(2025, 10, 1, 0, 0, tzinfo=UTC))


def test_csv_exact_format(make_tree: MakeTree, tmp_path: Path) -> None:
    index = {"sessions": [{"correlation_id": "c", "latest_step": 300}, {"correlation_id": "only_index"}]}
    root = make_tree({
        "b": {"summary.json": {"global_step": 1000, "rl_sharpe": 1.5, "dsr": 1.0, "p_value": 0.05}},
        "a": {"summary.json": {"global_step": "abc", "rl_sharpe": 2, "dsr": float("nan")}},
        "c": {},
        "B": {"summary.json": {"p_value": 1e-05}},
    }, index=index)  # fmt: skip
    out = tmp_path / "out" / "trends.csv"
    write_trends_csv(load_artifacts(root).sessions, out)
    assert out.read_text(encoding="utf-8") == (
        "session_id,global_step,rl_sharpe,dsr,p_value\n"
        "B,,,,1e-05\n"  # plain string order: uppercase first
        "a,,2,,\n"  # invalid values are empty cells; numbers as Python prints them
        "b,1000,1.5,1.0,0.05\n"  # a DSR is a probability: 1.0 is its top (#25)
        "c,300,,,\n"  # global_step falls back to the index's latest_step
    )  # index-only sessions have no row


def test_csv_quotes_awkward_ids_and_round_trips(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({'a,b "q"': {"summary.json": {"dsr": 0.5}}, "<script>": {}})
    out = write_trends_csv(load_artifacts(root).sessions, tmp_path / "t.csv")
    back = read_trends_csv(tmp_path / "t.csv")
    assert [r.session_id for r in back.rows] == ["<script>", 'a,b "q"'] == [r.session_id for r in out.rows]
    assert back.rows[1].values["dsr"] == 0.5 and back.issues == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3, 4, 5, 6, 7, 8], "▁▂▃▄▅▆▇█"),
        ([0, 10], "▁█"),
        ([5, None, 5, 5], "▄▄▄"),  # constant: a flat middle line; None skipped
        ([3.0], "▄"),  # a single value
        ([], ""),
        ([None, None], ""),
        ([float("nan"), 1, 2], "▁█"),
        ([-1.0, 0.0, 1.0], "▁▅█"),
        ([-1e308, 0.0, 1e308], "▁▅█"),  # the range overflows a float: was NaN → ValueError
        ([-5e-324, 0.0, 5e-324], "▁▅█"),  # the range is subnormal: 7 / range overflows
    ],
)
def test_sparkline(values: list, expected: str) -> None:
    assert sparkline(values) == expected


def test_markdown_report_structure() -> None:
    table = TrendTable([
        TrendRow("s1", {"global_step": 100, "rl_sharpe": 0.5, "dsr": None, "p_value": 0.2}),
        TrendRow("s2", {"global_step": 300, "rl_sharpe": 1.5, "dsr": None, "p_value": 0.2}),
        TrendRow("s|<b>", {"global_step": 200, "rl_sharpe": None, "dsr": None, "p_value": 0.2}),
    ], source="t.csv")  # fmt: skip
    md = trends_markdown(table, clock=CLOCK)
    assert md.startswith("# Trend Report\n")
    assert "Generated 2025-10-01 09:00 JST from `t.csv`: 3 session(s)" in md
    for metric in ("global_step", "rl_sharpe", "dsr", "p_value"):
        assert f"\n## {metric}\n" in md
    assert "| s1 | 100 |" in md and "| s2 | 1.5000 |" in md
    assert "Trend: ▁█▅ (3 of 3 sessions have a value)" in md  # 100, 300, 200 (mid-range rounds up)
    assert "No session has a dsr value." in md
    assert "| s\\|&lt;b&gt; | —" in md  # pipes cannot break the table, tags cannot become HTML
    assert "Trend: ▄▄▄" in md  # constant p_value


def test_markdown_from_csv_with_blank_nan_and_single_session(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "t.csv", "session_id,global_step,rl_sharpe,dsr,p_value\nonly,,nan,abc,0.5\n")
    out = tmp_path / "r" / "trends.md"
    table = write_trends_markdown(csv_path, out, clock=CLOCK)
    md = out.read_text(encoding="utf-8")
    assert "| only | — |" in md and "| only | 0.5000 |" in md
    assert {p.reason.split(":")[0] for p in table.issues} == {"line 2 rl_sharpe", "line 2 dsr"}


def test_csv_reader_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        read_trends_csv(tmp_path / "missing.csv")
    with pytest.raises(InputFileError, match="empty"):
        read_trends_csv(write(tmp_path / "empty.csv", ""))
    with pytest.raises(InputFileError, match="first column must be 'session_id'"):
        read_trends_csv(write(tmp_path / "bad.csv", "id,x\n1,2\n"))
    partial = read_trends_csv(write(tmp_path / "p.csv", "session_id,dsr\na,0.1\n"))
    assert partial.rows[0].values == {"global_step": None, "rl_sharpe": None, "dsr": 0.1, "p_value": None}
    assert "no column global_step, rl_sharpe, p_value" in partial.issues[0].reason


def test_trends_md_with_sharpes_of_plus_and_minus_1e308(tmp_path: Path) -> None:
    """Both finite, so both are kept; the sparkline's range (2e308) is not: trends-md, the nightly's
    trends-md step and the trends notebook died with ValueError: cannot convert float NaN to integer."""
    csv = tmp_path / "t.csv"
    csv.write_text(
        "session_id,global_step,rl_sharpe,dsr,p_value\na,1,1e+308,,\nb,2,-1e+308,,\nc,3,0.0,,\n", "utf-8"
    )
    r = CliRunner().invoke(cli, ["trends-md", "--csv", str(csv), "--out", str(tmp_path / "t.md")])
    assert r.exit_code == 0, r.output
    assert "Trend: █▁▅ (3 of 3 sessions have a value)" in (tmp_path / "t.md").read_text(encoding="utf-8")
