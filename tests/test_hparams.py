"""Hyperparameters from every place the bot writes them: the real fixtures, tensorboardX and torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import write

from ztbkit.data.artifacts import load_artifacts
from ztbkit.data.hparams import config_hparams, name_hparams, parse_name_value, tb_hparams
from ztbkit.data.session import load_session
from ztbkit.data.snapshot import read_snapshot, write_snapshot


def test_the_backtest_envelope_config_of_the_real_fixture(bot_fixtures: Path, tmp_path: Path) -> None:
    src = bot_fixtures / "results" / "backtest" / "sma_fast_slow_20250929_130014" / "artifacts"
    folder = tmp_path / "artifacts" / "20250929T130014Z"
    shutil.copytree(src, folder)
    s = load_session(folder)
    assert s.run_metadata_shape == "backtest"
    assert s.hparams == {
        "dataset": "btc_usd_1m",
        "enable_risk": False,
        "initial_capital": 1000.0,
        "policy": "sma_fast_slow",
        "risk_profile": "balanced",
        "slippage_bps": 5.0,
        "target_vol": None,
    }
    df = load_artifacts(tmp_path / "artifacts").to_dataframe()
    assert df.loc[0, "hp.policy"] == "sma_fast_slow" and df.loc[0, "hp.slippage_bps"] == 5.0


def test_the_real_vf_coef_sweep_folders(bot_fixtures: Path) -> None:
    """The fixtures' runs/ folder is the bot's own vf_coef sweep: read as an artifacts root, each run
    folder is a session whose name gives its vf_coef."""
    tree = load_artifacts(bot_fixtures / "runs")
    got = {s.session_id: s.hparams for s in tree.sessions}
    assert got == {
        "vf_coef_test_vf_coef_02500": {"vf_coef": 0.25},
        "vf_coef_test_vf_coef_05000": {"vf_coef": 0.5},
        "vf_coef_test_vf_coef_07500": {"vf_coef": 0.75},
    }
    df = tree.to_dataframe()
    assert list(df["hp.vf_coef"]) == [0.25, 0.5, 0.75]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("vf_coef_test_vf_coef_02500", {"vf_coef": 0.25}),
        ("sweep_gamma_099", {"gamma": 0.99}),
        ("ppo_batch_size_64", {"batch_size": 64}),
        ("ppo_lr_3e-4", {"lr": 0.0003}),
        ("ppo_clip_1p5", {"clip": 1.5}),
        ("ppo_seed_0", {"seed": 0}),
        ("lr_3", {}),  # no sweep name before the parameter
        ("20250929T120000Z", {}),  # a correlation id encodes nothing
        ("my_run_final", {}),  # the last word is not a number
        ("ppo__lr_3", {}),  # an empty word: not the rule's shape
        ("ppo_12_3", {}),  # the parameter must start with a letter
    ],
)
def test_the_folder_name_rule(name: str, expected: dict[str, object]) -> None:
    assert name_hparams(name) == expected


def test_values_as_a_sweep_writes_them() -> None:
    assert parse_name_value("07500") == 0.75
    assert parse_name_value("-05") == -0.5
    assert parse_name_value("2048") == 2048 and isinstance(parse_name_value("2048"), int)
    assert parse_name_value("1e-3") == 0.001
    assert parse_name_value("abc") is None and parse_name_value("1.5") is None


def test_config_shapes_and_flattening() -> None:
    env = {"system": {}, "run_config": {"total_timesteps": 5, "net": {"arch": [64, 64], "act": "tanh"}}}
    assert config_hparams(env) == {"total_timesteps": 5, "net.arch": "[64, 64]", "net.act": "tanh"}
    assert config_hparams({"run_config": {"lr": float("nan")}}) == {"lr": None}
    assert config_hparams({"config": {"lr": 1}}) == {}  # not one of the bot's shapes
    assert config_hparams({"duration_seconds": 10}) == {}
    assert config_hparams({"payload": {"config": "not an object"}}) == {}


HP = {"learning_rate": 0.0003, "n_steps": 2048, "policy": "MlpPolicy", "use_sde": True}


def _expected(hp: dict[str, object]) -> dict[str, object]:
    # The plugin stores numbers as doubles: whole numbers come back as int, the rest as float.
    return {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in hp.items()}


def test_tensorboardx_add_hparams(tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter

    session = tmp_path / "artifacts" / "20251001T000000Z"
    w = SummaryWriter(str(session / "tb"))
    for step in range(0, 50_000, 1000):  # a long run's scalars come first in the main file
        w.add_scalar("rollout/ep_rew_mean", step / 1000, step)
    w.add_hparams(HP, {"hparam/sharpe": 1.2})
    w.close()
    assert tb_hparams(str(session)) == _expected(HP)
    s = load_session(session)
    assert s.hparams == _expected(HP)


def test_torch_summarywriter_add_hparams(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    session = tmp_path / "artifacts" / "20251002T000000Z"
    w = SummaryWriter(str(session / "tensorboard"))
    w.add_scalar("train/loss", 0.5, 1)
    w.add_hparams({**HP, "gamma": 0.99}, {"hparam/dsr": 0.8}, run_name="trial-1")
    w.close()
    assert load_session(session).hparams == _expected({**HP, "gamma": 0.99})


def test_the_bot_config_wins_over_tensorboard_and_the_name(tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter

    session = tmp_path / "artifacts" / "ppo_lr_3e-4"
    w = SummaryWriter(str(session / "tb"))
    w.add_hparams({"lr": 0.5, "gamma": 0.9}, {"m": 1.0})
    w.close()
    write(session / "run_metadata.json", {"correlation_id": "x", "payload": {"config": {"gamma": 0.99}}})
    # config: gamma; TensorBoard: lr (over the name's 3e-4) — the bot's own record first, the name last.
    assert load_session(session).hparams == {"gamma": 0.99, "lr": 0.5}


def test_hostile_event_files_never_stop_a_session(tmp_path: Path) -> None:
    session = tmp_path / "artifacts" / "20251003T000000Z"
    (session / "tb").mkdir(parents=True)
    (session / "tb" / "events.out.tfevents.1.host.1.0").write_bytes(b"\xff" * 5000)
    (session / "tb" / "events.out.tfevents.2.host.1.0").write_bytes(b"")
    write(session / "summary.json", {"rl_sharpe": 1.0})
    s = load_session(session)
    assert s.hparams == {} and s.rl_sharpe == 1.0


def test_hparams_survive_the_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    write(
        root / "sweep_gamma_099" / "run_metadata.json",
        {"run_config": {"policy": "ppo", "net": {"width": 64}}},
    )
    tree = load_artifacts(root)
    snap = write_snapshot(tree, tmp_path / "snap.parquet", root)
    back = read_snapshot(snap, root)
    assert back is not None
    assert back.sessions[0].hparams == {"gamma": 0.99, "net.width": 64, "policy": "ppo"}
    assert back.sessions == tree.sessions
    assert json.dumps(back.sessions[0].hparams) == json.dumps(tree.sessions[0].hparams)
