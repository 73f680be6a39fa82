from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import MakeTree

from ztbkit import UsageError, load_artifacts
from ztbkit.cli import cli
from ztbkit.core.formatting import yen
from ztbkit.money.costs import CostUnavailableError, Rates, derive_inputs, estimate_cost, resolve_rates
from ztbkit.money.gpu_power import board_power_watts
from ztbkit.money.tariffs import load_tariff

ONE_HOUR = {"correlation_id": "s", "duration_seconds": 3600, "gpu_count": 1}


def session_of(make_tree: MakeTree, files: dict) -> object:
    return load_artifacts(make_tree({"s": files})).sessions[0]


def test_reference_case(make_tree: MakeTree) -> None:
    s = session_of(make_tree, {"run_metadata.json": ONE_HOUR})
    est = estimate_cost(derive_inputs(s), resolve_rates(env={}), load_tariff("jp_residential_tiered"))  # type: ignore[arg-type]
    d = est.to_dict()
    assert (
        d["power_kwh"] == 0.3 and d["gpu_hours"] == 1.0 and d["duration_hours"] == 1.0 and d["gpu_count"] == 1
    )
    assert (
        d["costs"]["gpu_jpy"] == 300
        and d["costs"]["power_jpy"] == 1255.87
        and d["costs"]["total_jpy"] == 1555.87
    )
    assert d["costs"]["cloud_jpy"] == 0 and d["costs"]["marginal_power_jpy"] == 8.91  # 0.3 × 29.70
    assert d["rates"] == {"gpu_rate_jpy_per_hour": 300.0, "kwh_rate_jpy": 35.0, "cloud_rate_jpy_per_hour": 0.0,
                          "tariff": "jp_residential_tiered"}  # fmt: skip
    assert d["sources"]["power_kwh"]["source"] == "estimated"
    assert d["sources"]["duration_hours"] == {"value": 1.0, "source": "measured",
                                              "detail": "run_metadata.json:duration_seconds"}  # fmt: skip


def test_simple_tariff_and_marginal_over_household(make_tree: MakeTree) -> None:
    s = session_of(make_tree, {"run_metadata.json": {**ONE_HOUR, "gpu_count": 2}})
    rates = resolve_rates(kwh_rate="20", cloud_rate="100", env={})
    est = estimate_cost(derive_inputs(s), rates, load_tariff("simple"))  # type: ignore[arg-type]
    assert (est.gpu_jpy, est.power_jpy, est.cloud_jpy) == (600.0, pytest.approx(12.0), 100.0)  # 0.6 kWh × 20
    tiered = estimate_cost(
        derive_inputs(s, kwh=10), rates, load_tariff("jp_residential_tiered"), household_kwh=115
    )  # type: ignore[arg-type]
    assert tiered.marginal_power_jpy == pytest.approx(5 * 29.70 + 5 * 35.69)  # crosses the 120 kWh edge


def test_flags_beat_env_beat_defaults_and_zero_is_valid() -> None:
    env = {"GPU_RATE_JPY_PER_HOUR": "250", "KWH_RATE_JPY": "31.5", "CLOUD_RATE_JPY_PER_HOUR": "0"}
    assert resolve_rates(env={}) == Rates(300.0, 35.0, 0.0, "simple")
    assert resolve_rates(env=env) == Rates(250.0, 31.5, 0.0, "simple")
    assert resolve_rates(gpu_rate="0", kwh_rate="40", env=env) == Rates(0.0, 40.0, 0.0, "simple")
    assert resolve_rates(env={"GPU_RATE_JPY_PER_HOUR": "  "}).gpu_rate_jpy_per_hour == 300.0  # blank = unset


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({"gpu_rate": "abc"}, {}, "--gpu-rate: 'abc' is not a number"),
        ({"kwh_rate": "-1"}, {}, "--kwh-rate: must be a non-negative number"),
        ({"cloud_rate": "nan"}, {}, "--cloud-rate: must be a non-negative number"),
        ({}, {"KWH_RATE_JPY": "cheap"}, "KWH_RATE_JPY: 'cheap' is not a number"),
        ({}, {"GPU_RATE_JPY_PER_HOUR": "-5"}, "GPU_RATE_JPY_PER_HOUR: must be a non-negative"),
        ({}, {"CLOUD_RATE_JPY_PER_HOUR": "inf"}, "CLOUD_RATE_JPY_PER_HOUR: must be a non-negative"),
    ],
)
def test_bad_rates_name_the_flag_or_variable(kwargs: dict, env: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_rates(env=env, **kwargs)


@pytest.mark.parametrize(
    ("files", "hours", "hours_source", "gpus", "gpus_source"),
    [
        ({"run_metadata.json": ONE_HOUR}, 1.0, "measured", 1, "measured"),
        ({"run_metadata.json": {"system": {"os": "Linux", "gpu": "NVIDIA GeForce RTX 4090"}, "packages": {},
                                "run_config": {}}, "summary.json": {"summary": {"wall_clock_duration_hours": 2}}},
         2.0, "measured", 1, "default"),
        ({"run_metadata.json": {"correlation_id": "b", "payload": {"run_id": "r", "gpu_count": 2,
                                                                   "duration_seconds": 1800}}},
         0.5, "measured", 2, "measured"),
        ({"run_metadata.json": {"correlation_id": "dummy", "system": {"os": "dummy"}},
          "summary.json": {"global_step": 36000, "progress": {"steps_per_sec": 10.0}}},
         1.0, "estimated", 1, "default"),
        ({"summary.json": {"global_step": 7200}, "metrics.json": {"tb_latest": {"time/fps": 4.0}}},
         0.5, "estimated", 1, "default"),
    ],
)  # fmt: skip
def test_inputs_from_each_run_metadata_shape(make_tree: MakeTree, files: dict, hours: float, hours_source: str,
                                             gpus: int, gpus_source: str) -> None:  # fmt: skip
    inputs = derive_inputs(session_of(make_tree, files))  # type: ignore[arg-type]
    assert (
        inputs.duration_hours.value == pytest.approx(hours) and inputs.duration_hours.source == hours_source
    )
    assert inputs.gpu_count.value == gpus and inputs.gpu_count.source == gpus_source


def test_energy_sources_measured_model_override(make_tree: MakeTree) -> None:
    measured = derive_inputs(session_of(make_tree, {"run_metadata.json": {**ONE_HOUR, "energy_kwh": 0.42}}))  # type: ignore[arg-type]
    assert (measured.energy_kwh.value, measured.energy_kwh.source) == (0.42, "measured")
    model = derive_inputs(
        session_of(make_tree, {"run_metadata.json": {**ONE_HOUR, "gpu_model": "RTX 4070 Ti"}})
    )  # type: ignore[arg-type]
    assert model.gpu_watts.value == 285 and model.energy_kwh.value == pytest.approx(0.285)
    override = derive_inputs(session_of(make_tree, {"run_metadata.json": ONE_HOUR}), kwh=2.0, gpu_watts=100)  # type: ignore[arg-type]
    assert (override.energy_kwh.source, override.gpu_watts.source) == ("override", "override")
    assert (
        board_power_watts("NVIDIA GeForce RTX 4070 Ti SUPER") == 285 and board_power_watts("Radeon") is None
    )


def test_no_duration_is_said_not_priced_zero(make_tree: MakeTree) -> None:
    inputs = derive_inputs(session_of(make_tree, {"summary.json": {"rl_sharpe": 1.0}}))  # type: ignore[arg-type]
    with pytest.raises(CostUnavailableError, match=r"no duration for session 's'.*--hours"):
        estimate_cost(inputs, Rates(), load_tariff("simple"))


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (1555.87, "¥1,556"),
        (0, "¥0"),
        (0.5, "¥1"),
        (2.5, "¥3"),
        (1234567.4, "¥1,234,567"),
        (-1500, "-¥1,500"),
        (1e30, "¥1" + ",000" * 10),
        (-2.5e29, "-¥250" + ",000" * 9),
        (float("inf"), "¥∞"),
        (float("-inf"), "-¥∞"),
        (float("nan"), "¥—"),
    ],
)
def test_yen_formatting(amount: float, text: str) -> None:
    assert yen(amount) == text


def test_markdown_report(make_tree: MakeTree) -> None:
    s = session_of(make_tree, {"run_metadata.json": ONE_HOUR})
    md = estimate_cost(
        derive_inputs(s), Rates(tariff="jp_residential_tiered"), load_tariff("jp_residential_tiered")
    ).to_markdown()  # type: ignore[arg-type]
    assert "| **Total** | | **¥1,556** |" in md
    assert "| base fee | | | ¥1,247 |" in md and "| 0–120 kWh | 0.30 | 29.70 | ¥9 |" in md
    assert "| energy | 0.300 kWh | estimated | 1 GPU × 300 W × 1.00 h |" in md


def run(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args), env=env or {})
    return r.exit_code, r.stdout, r.stderr


def test_cost_cli_writes_artifact_json_and_out_files(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"s": {"run_metadata.json": ONE_HOUR}})
    code, out, _ = run(
        "cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--tariff", "jp_residential_tiered"
    )
    assert code == 0 and json.loads(out)["costs"]["total_jpy"] == 1555.87
    saved = json.loads((root / "s" / "reports" / "cost_estimate.json").read_text(encoding="utf-8"))
    assert saved["costs"]["total_jpy"] == 1555.87 and saved["generator"] == "ztbkit"
    code, out, _ = run("cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--out", str(tmp_path / "c.md"),
                       "--gpu-rate", "100")  # fmt: skip
    assert code == 0 and "total ¥111 (GPU ¥100, electricity ¥11, cloud ¥0)" in out
    assert (tmp_path / "c.md").read_text(encoding="utf-8").startswith("# Cost estimate: s")
    code, _, _ = run(
        "cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--out", str(tmp_path / "c.json")
    )
    assert (
        code == 0 and json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["correlation_id"] == "s"
    )


def test_a_lone_surrogate_escape_in_run_metadata_is_priced_not_a_crash(
    make_tree: MakeTree, tmp_path: Path
) -> None:
    """JSON allows ``"\\ud800"`` (half of a UTF-16 pair); Python reads it as a lone surrogate, which
    UTF-8 cannot hold. The estimate and the Markdown are still written, with U+FFFD in its place."""
    root = make_tree({"s": {"run_metadata.json": {**ONE_HOUR, "gpu_model": "NVIDIA \ud800 RTX 4090"}}})
    assert '"NVIDIA \\ud800 RTX 4090"' in (root / "s" / "run_metadata.json").read_text(encoding="utf-8")
    code, out, err = run(
        "cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--out", str(tmp_path / "c.md")
    )
    assert code == 0 and "total ¥" in out, err
    saved = (root / "s" / "reports" / "cost_estimate.json").read_bytes()
    assert json.loads(saved)["gpu_model"] == "NVIDIA \ufffd RTX 4090"
    assert "board power of NVIDIA \ufffd RTX 4090 |" in (tmp_path / "c.md").read_text(encoding="utf-8")


def test_a_huge_but_finite_run_is_priced_and_summed_not_a_crash(make_tree: MakeTree, tmp_path: Path) -> None:
    """A gpu_count of 10**30 is a finite number: the estimate (~¥3e32) is written and the one-line
    total printed in whole yen; Decimal's 28-digit default used to raise InvalidOperation there."""
    root = make_tree({"s": {"run_metadata.json": {**ONE_HOUR, "gpu_count": 10**30}}})
    code, out, err = run(
        "cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--out", str(tmp_path / "c.md")
    )
    assert code == 0 and "Traceback" not in err, err
    assert "(GPU ¥300" + ",000" * 10 + ", electricity ¥10,500" + ",000" * 9 + "," in out
    code, out, err = run("budget", "--artifacts-dir", str(root), "--out", str(tmp_path / "b.md"))
    assert code == 0 and "Traceback" not in err, err


def test_cost_cli_warns_of_the_bad_values_it_set_aside(make_tree: MakeTree, tmp_path: Path) -> None:
    """A negative duration or GPU count is not priced; the one-hour summary and the 1-GPU default are
    used, and stderr says which file and key was set aside (it used to say nothing)."""
    root = make_tree({"s": {"run_metadata.json": {"duration_seconds": -7200, "gpu_count": -2},
                            "summary.json": {"wall_clock_duration_hours": 1}}})  # fmt: skip
    code, out, err = run(
        "cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--out", str(tmp_path / "c.md")
    )
    assert code == 0 and "total ¥" in out
    assert "(GPU ¥300," in out  # 1 GPU x 1 h x ¥300/h
    assert "s/run_metadata.json: duration_seconds: expected a non-negative number, got -7200" in err
    assert "s/run_metadata.json: gpu_count: expected a non-negative number, got -2" in err


def test_cost_cli_errors(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree(
        {"empty": {}, "s": {"run_metadata.json": ONE_HOUR}, "nodur": {"summary.json": {"dsr": 1}}}
    )
    code, _, err = run("cost", "--correlation-id", "empty", "--artifacts-dir", str(root))
    assert code == 1 and "run_metadata.json and" in err and "summary.json are both missing" in err
    code, _, err = run("cost", "--correlation-id", "nodur", "--artifacts-dir", str(root))
    assert code == 1 and "no duration" in err
    assert not (root / "nodur" / "reports").exists()
    code, _, err = run("cost", "--correlation-id", "ghost", "--artifacts-dir", str(root))
    assert code == 2 and "--correlation-id: no session folder" in err and "ghost" in err
    code, _, err = run("cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--gpu-rate", "x")
    assert code == 2 and "--gpu-rate: 'x' is not a number" in err
    code, _, err = run(
        "cost", "--correlation-id", "s", "--artifacts-dir", str(root), env={"KWH_RATE_JPY": "-3"}
    )
    assert code == 2 and "KWH_RATE_JPY" in err
    code, _, err = run(
        "cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--out", str(tmp_path / "c.txt")
    )
    assert code == 2 and "--out" in err
    code, _, err = run("cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--tariff", "nope")
    assert code == 2 and "unknown tariff 'nope'" in err


def test_python_m_ztbkit_cost(make_tree: MakeTree) -> None:
    import subprocess
    import sys

    root = make_tree({"s": {"run_metadata.json": ONE_HOUR}})
    p = subprocess.run([sys.executable, "-m", "ztbkit", "cost", "--correlation-id", "s", "--artifacts-dir", str(root)],
                       capture_output=True, encoding="utf-8")  # fmt: skip
    assert p.returncode == 0 and json.loads(p.stdout)["costs"]["gpu_jpy"] == 300


def test_generated_at_is_recorded(make_tree: MakeTree) -> None:
    s = session_of(make_tree, {"run_metadata.json": ONE_HOUR})
    when = datetime(2025, 10, 1, tzinfo=UTC)
    est = estimate_cost(derive_inputs(s), Rates(), load_tariff("simple"), generated_at=when)  # type: ignore[arg-type]
    assert est.to_dict()["generated_at"] == "2025-10-01T00:00:00+00:00"


def test_steps_per_sec_from_the_sessions_own_tensorboard_logs(make_tree: MakeTree) -> None:
    from test_tensorboard import frame, tf2_event

    from ztbkit.money.budget import find_session, price_session

    events = b"".join(frame(tf2_event(s, "time/fps", 10.0, first=s == 0)) for s in range(3))
    root = make_tree(
        {"s": {"summary.json": {"global_step": 36_000}, "tb/PPO_1/events.out.tfevents.1.h.1.0": events}}
    )
    est = price_session(find_session(root, "s"), Rates(), write=False)
    sources = est.to_dict()["sources"]
    assert sources["steps_per_sec"] == {
        "value": 10.0,
        "source": "measured",
        "detail": "TensorBoard time/fps (event files)",
    }
    assert est.duration_hours == pytest.approx(1.0) and sources["duration_hours"]["source"] == "estimated"


def test_non_finite_estimate_is_refused_before_writing(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"s": {"run_metadata.json": ONE_HOUR}})
    previous = root / "s" / "reports" / "cost_estimate.json"
    previous.parent.mkdir(parents=True)
    previous.write_text('{"total_cost_jpy": 1}\n', encoding="utf-8")
    for extra in (["--kwh", "1e308", "--kwh-rate", "1e308"], ["--hours", "1e308", "--gpu-rate", "1e308"]):
        code, out, err = run("cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--out",
                             str(tmp_path / "c.json"), *extra)  # fmt: skip
        assert code == 2 and err.count("\n") == 1 and err.startswith("ztb: error: "), err
        assert ("not a finite number" in err and "nothing written" in err) or "got inf" in err, err
        assert out == "" and not (tmp_path / "c.json").exists()
        assert previous.read_text(encoding="utf-8") == '{"total_cost_jpy": 1}\n'


def test_tariff_file_fifo_and_non_utf8_are_one_line_errors(make_tree: MakeTree, tmp_path: Path) -> None:
    import os

    root = make_tree({"s": {"run_metadata.json": ONE_HOUR}})
    os.mkfifo(tmp_path / "fifo.toml")
    # cp932 ("ANSI") text is decoded (see test_tariffs); undecodable bytes are one line naming the file
    (tmp_path / "ansi.toml").write_bytes(b'name = "\x81 "\n')
    (tmp_path / "huge.toml").write_text("x = " + "9" * 5001 + "\n", encoding="utf-8")
    (tmp_path / "deep.toml").write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    for name, reason in (("fifo.toml", "not a regular file"), ("ansi.toml", "invalid TOML"), ("huge.toml", "invalid TOML"),
                         ("deep.toml", "invalid TOML"), ("missing.toml", "cannot read")):  # fmt: skip
        code, _, err = run("cost", "--correlation-id", "s", "--artifacts-dir", str(root), "--tariff",
                           str(tmp_path / name))  # fmt: skip
        assert code == 2 and err.startswith("ztb: error: ") and err.count("\n") == 1, (name, err)
        assert name in err, err  # the message names the file
        assert reason in err or "not UTF-8" in err, (name, err)
