from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import write

from ztbkit.money.tariffs import TariffError, available_tariffs, load_tariff


@pytest.mark.parametrize(
    ("kwh", "expected"),
    [
        (0, 1246.96),  # the base fee alone
        (119, 1246.96 + 119 * 29.70),
        (120, 1246.96 + 120 * 29.70),  # 120 is billed in the lower tier
        (121, 1246.96 + 120 * 29.70 + 1 * 35.69),
        (299, 1246.96 + 120 * 29.70 + 179 * 35.69),
        (300, 1246.96 + 120 * 29.70 + 180 * 35.69),  # so is 300
        (301, 1246.96 + 120 * 29.70 + 180 * 35.69 + 1 * 39.50),
        (0.3, 1255.87),
    ],
)
def test_jp_tiered_bill_at_tier_edges(kwh: float, expected: float) -> None:
    bill = load_tariff("jp_residential_tiered").bill(kwh)
    assert bill.total_jpy == pytest.approx(expected, abs=1e-9)


def test_bill_lines_show_each_tier_used() -> None:
    bill = load_tariff("jp_residential_tiered").bill(301)
    assert [(ln.label, ln.kwh) for ln in bill.lines] == [
        ("0–120 kWh", 120),
        ("120–300 kWh", 180),
        ("300–∞ kWh", 1),
    ]
    assert bill.base_fee_jpy == 1246.96


def test_shipped_tariffs_and_flat_rate() -> None:
    assert available_tariffs() == ["jp_residential_tiered", "simple"]
    simple = load_tariff("simple")
    assert simple.flat_rate and simple.bill(2).total_jpy == 70.0  # default 35 JPY/kWh
    assert simple.with_rate(20).bill(2).total_jpy == 40.0
    with pytest.raises(TariffError, match="applies only to a flat tariff"):
        load_tariff("jp_residential_tiered").with_rate(20)


def test_a_new_contract_or_surcharge_is_a_file(tmp_path: Path) -> None:
    path = write(tmp_path / "jp_30a.toml", """
name = "jp_30a_levy"
effective_date = "2025-05-01"
base_fee_jpy = 935.22
[[tiers]]
up_to_kwh = 120
jpy_per_kwh = 29.80
[[tiers]]
jpy_per_kwh = 36.40
[[surcharges]]
name = "再エネ賦課金"
jpy_per_kwh = 3.98
""")  # fmt: skip
    t = load_tariff(str(path))
    assert t.bill(130).total_jpy == pytest.approx(935.22 + 120 * 29.80 + 10 * 36.40 + 130 * 3.98)
    assert t.bill(130).lines[-1].label == "再エネ賦課金"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('name = "x"\neffective_date = "2025-01-01"', r"at least one \[\[tiers\]\]"),
        ('name = "x"\neffective_date = "2025-01-01"\n[[tiers]]\nup_to_kwh = 10\njpy_per_kwh = 1', "open-ended"),
        ('name = "x"\neffective_date = "2025-01-01"\n[[tiers]]\njpy_per_kwh = -1', "non-negative"),
        ('name = "x"\n[[tiers]]\njpy_per_kwh = 1', "effective_date"),
        ('name = "x"\neffective_date = "2025-01-01"\n[[tiers]]\nup_to_kwh = 10\njpy_per_kwh = 1\n'
         '[[tiers]]\nup_to_kwh = 5\njpy_per_kwh = 1\n[[tiers]]\njpy_per_kwh = 1', "must be above 10"),
        ("name = ", "invalid TOML"),
    ],
)  # fmt: skip
def test_malformed_tariff_files_name_the_file(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path / "bad.toml", body)
    with pytest.raises(TariffError, match=message) as err:
        load_tariff(str(path))
    assert str(path) in str(err.value)


def test_unknown_tariff_lists_the_known_ones() -> None:
    with pytest.raises(
        TariffError, match=r"--tariff: unknown tariff 'nope' \(known: jp_residential_tiered, simple"
    ):
        load_tariff("nope")


NOTEPAD_TARIFF = """# 東京の従量電灯B 30A (Notepad で保存)
name = "tokyo_30a"
effective_date = "2025-04-01"
base_fee_jpy = 935.25
[[tiers]]
up_to_kwh = 120
jpy_per_kwh = 29.80
[[tiers]]
jpy_per_kwh = 36.40
[[surcharges]]
name = "再エネ賦課金"
jpy_per_kwh = 3.98
"""


def test_notepad_utf8_bom_tariff_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bom.toml", b"\xef\xbb\xbf" + NOTEPAD_TARIFF.replace("\n", "\r\n").encode("utf-8")
    )
    tariff = load_tariff(str(path))
    assert tariff.name == "tokyo_30a" and tariff.surcharges == (("再エネ賦課金", 3.98),) and tariff.note == ""
    assert tariff.bill(130).total_jpy == pytest.approx(935.25 + 120 * 29.80 + 10 * 36.40 + 130 * 3.98)


def test_ansi_cp932_tariff_loads_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path / "ansi.toml", NOTEPAD_TARIFF.replace("\n", "\r\n").encode("cp932"))
    tariff = load_tariff(str(path))
    assert tariff.surcharges == (("再エネ賦課金", 3.98),)
    assert tariff.note.startswith(f"{path}: not UTF-8, read as cp932")


def test_tariff_in_neither_encoding_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "junk.toml", b'name = "x\x81\x7f"\n')  # \x81\x7f: bad UTF-8 and bad cp932
    with pytest.raises(TariffError) as err:
        load_tariff(str(path))
    assert str(err.value) == f"{path}: not UTF-8 or cp932 text (bad byte at offset 9); save it as UTF-8"


def test_cost_cli_warns_about_a_cp932_tariff(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ztbkit.cli import cli

    path = write(tmp_path / "ansi.toml", NOTEPAD_TARIFF.encode("cp932"))
    run_md = {"correlation_id": "s", "duration_seconds": 3600, "gpu_count": 1}
    write(tmp_path / "a" / "s" / "run_metadata.json", run_md)
    args = ["cost", "--correlation-id", "s", "--artifacts-dir", str(tmp_path / "a"), "--tariff", str(path)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert (
        r.stderr.strip()
        == f"warning: {path}: not UTF-8, read as cp932 (Windows ANSI); save it as UTF-8 to silence this"
    )
    assert "再エネ賦課金" in r.stdout


@pytest.mark.parametrize(
    ("kwh", "lines"),
    [
        (0, [("0–120 kWh", 0)]),  # an empty month still shows the first tier, at zero
        (50, [("0–120 kWh", 50)]),
        (120, [("0–120 kWh", 120)]),  # on the edge: the upper tiers are unused, so not listed
        (120.5, [("0–120 kWh", 120), ("120–300 kWh", 0.5)]),
        (300, [("0–120 kWh", 120), ("120–300 kWh", 180)]),
    ],
)
def test_bill_lines_never_list_unused_tiers(kwh: float, lines: list[tuple[str, float]]) -> None:
    bill = load_tariff("jp_residential_tiered").bill(kwh)
    assert [(ln.label, ln.kwh) for ln in bill.lines] == lines
    assert [ln.jpy for ln in bill.lines] == pytest.approx(
        [k * r for (_, k), r in zip(lines, [29.70, 35.69][: len(lines)], strict=True)]
    )


def _cost_cli(tariff: str, tmp_path: Path) -> tuple[int, str]:
    from click.testing import CliRunner

    from ztbkit.cli import cli

    write(tmp_path / "a" / "s" / "run_metadata.json", {"duration_seconds": 3600, "gpu_count": 1})
    r = CliRunner().invoke(cli, ["cost", "--correlation-id", "s", "--artifacts-dir", str(tmp_path / "a"),
                                 "--tariff", tariff], env={})  # fmt: skip
    return r.exit_code, r.stderr


def test_tariff_file_errors_are_one_line_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing, folder = tmp_path / "missing.toml", tmp_path / "dir.toml"
    folder.mkdir()
    no_upper = write(tmp_path / "no_upper.toml", 'name = "x"\neffective_date = "2025-01-01"\n'
                     "[[tiers]]\njpy_per_kwh = 1\n[[tiers]]\njpy_per_kwh = 2\n")  # fmt: skip
    bad = write(tmp_path / "bad.toml", "name = \n")
    cases = [
        (missing, f"ztb: error: --tariff: cannot read {missing}: No such file or directory\n"),
        (folder, f"ztb: error: --tariff: {folder}: is a folder, expected a file\n"),
        (no_upper, f"ztb: error: {no_upper}: tiers[0] needs up_to_kwh (only the last tier is open-ended)\n"),
        (bad, f"ztb: error: {bad}: invalid TOML: Invalid value (at line 1, column 8)\n"),
    ]
    for path, message in cases:
        assert _cost_cli(str(path), tmp_path) == (2, message)
    # Permission denied (tests run as root, where chmod 000 does not stop a read: simulate the refusal).
    locked = write(tmp_path / "locked.toml", "")
    real_open = os.open

    def refusing_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path).endswith("locked.toml"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    assert _cost_cli(str(locked), tmp_path) == (
        2,
        f"ztb: error: --tariff: {locked}: cannot read: Permission denied\n",
    )


HEAD = 'name = "x"\neffective_date = "2025-01-01"\n'
OPEN = "[[tiers]]\njpy_per_kwh = 1\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('name = "x"\neffective_date = "2025-01-01"\ntiers = []', "needs at least one [[tiers]] entry"),
        (HEAD + "tiers = 3", "needs at least one [[tiers]] entry"),
        (HEAD + "tiers = [1]", "tiers[0] must be a table"),
        (HEAD + OPEN + OPEN, "tiers[0] needs up_to_kwh (only the last tier is open-ended)"),
        (HEAD + "[[tiers]]\nup_to_kwh = 0\njpy_per_kwh = 1\n" + OPEN, "tiers[0].up_to_kwh must be above 0"),
        (HEAD + "[[tiers]]\nup_to_kwh = 10\njpy_per_kwh = 1\n[[tiers]]\nup_to_kwh = 10\njpy_per_kwh = 1\n" + OPEN,
         "tiers[1].up_to_kwh must be above 10"),
        (HEAD + "[[tiers]]\nup_to_kwh = -1\njpy_per_kwh = 1\n" + OPEN,
         "tiers[0]: up_to_kwh must be a non-negative number, got -1"),
        (HEAD + "[[tiers]]\njpy_per_kwh = true\n", "tiers[0]: jpy_per_kwh must be a non-negative number, got True"),
        (HEAD + "[[tiers]]\njpy_per_kwh = nan\n", "tiers[0]: jpy_per_kwh must be a non-negative number, got nan"),
        (HEAD + "[[tiers]]\njpy_per_kwh = '3'\n", "tiers[0]: jpy_per_kwh must be a non-negative number, got '3'"),
        (HEAD + "[[tiers]]\n", "tiers[0]: jpy_per_kwh must be a non-negative number, got None"),
        (HEAD + OPEN + "[[surcharges]]\njpy_per_kwh = 1\n", "surcharges[0] needs a name and jpy_per_kwh"),
        (HEAD + "surcharges = [2]\n" + OPEN, "surcharges[0] needs a name and jpy_per_kwh"),
        (HEAD + OPEN + "[[surcharges]]\nname = 'levy'\njpy_per_kwh = -2\n",
         "surcharges[0]: jpy_per_kwh must be a non-negative number, got -2"),
        ('name = "x"\neffective_date = "2025-13-01"\n' + OPEN, "effective_date '2025-13-01' is not YYYY-MM-DD"),
        ('name = "x"\neffective_date = 5\n' + OPEN, "effective_date (YYYY-MM-DD) is required"),
        ('effective_date = "2025-01-01"\n' + OPEN, "name is required"),
        ('name = ""\neffective_date = "2025-01-01"\n' + OPEN, "name is required"),
        ("base_fee_jpy = -1\n" + HEAD + OPEN, "base_fee_jpy must be a non-negative number, got -1"),
        # TOML integers have no size limit in Python's reader: one past a float is refused, shown cut short
        ("base_fee_jpy = 1" + "0" * 400 + "\n" + HEAD + OPEN,
         "base_fee_jpy must be a non-negative number, got 1" + "0" * 36 + "..."),
        (HEAD + "[[tiers]]\njpy_per_kwh = -1" + "0" * 400 + "\n",
         "tiers[0]: jpy_per_kwh must be a non-negative number, got -" + "1" + "0" * 35 + "..."),
    ],
)  # fmt: skip
def test_each_malformed_tariff_has_its_exact_message(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path / "t.toml", body)
    with pytest.raises(TariffError) as err:
        load_tariff(str(path))
    assert str(err.value) == f"{path}: {message}"


def test_defaults_and_surcharge_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "t.toml", HEAD + "effective_date_note = 1\n[[tiers]]\nup_to_kwh = 10\njpy_per_kwh = 2\n"
                 "[[tiers]]\njpy_per_kwh = 3\n[[surcharges]]\nname = 'levy'\njpy_per_kwh = 0.5\n")  # fmt: skip
    t = load_tariff(str(path))
    assert (t.name, t.description, t.base_fee_jpy, t.flat_rate) == ("x", "", 0.0, False)
    assert str(t.effective_date) == "2025-01-01"
    bill = t.bill(12)
    assert [(ln.label, ln.kwh, ln.jpy_per_kwh, ln.jpy) for ln in bill.lines] == [
        ("0–10 kWh", 10, 2, 20), ("10–∞ kWh", 2, 3, 6), ("levy", 12, 0.5, 6)]  # fmt: skip
    assert bill.total_jpy == 32 and bill.kwh == 12


@pytest.mark.parametrize("kwh", [-1, -0.001, float("nan"), float("inf")])
def test_bill_refuses_impossible_energy(kwh: float) -> None:
    with pytest.raises(TariffError) as err:
        load_tariff("simple").bill(kwh)
    assert str(err.value) == f"energy must be a non-negative number of kWh, got {kwh}"
