"""Learning curves: downsampling that keeps every extreme, real SB3 and demo event files, alt text, bands."""

from __future__ import annotations

import random
import shutil
from datetime import UTC
from pathlib import Path

import pytest
from conftest import MakeTree

from ztbkit.analysis.curves import (
    _downsample_np,
    curves_alt,
    curves_figure,
    downsample,
    read_curves,
    rolling_band,
    session_curves,
)
from ztbkit.core.errors import UsageError
from ztbkit.data.artifacts import load_artifacts
from ztbkit.data.demo import build_demo

SB3_TAGS = ["rollout/ep_rew_mean", "train/loss", "time/fps"]


def spiky(n: int, seed: int = 7) -> tuple[list[int], list[float]]:
    rng = random.Random(seed)
    values = [rng.gauss(0, 1) for _ in range(n)]
    for b in rng.sample(range(500), 25):  # single-point spikes and dips a plot must not lose, one per bucket
        lo, hi = b * n // 500, (b + 1) * n // 500
        values[rng.randrange(lo, hi)] = rng.choice([-1, 1]) * rng.uniform(50, 100)
    return list(range(0, 10 * n, 10)), values


@pytest.mark.parametrize("n", [1_000_000, 12_345, 2001])
def test_downsample_keeps_every_bucket_extreme(n: int) -> None:
    import numpy as np

    steps, values = spiky(n)
    ds_steps, ds_values = _downsample_np(np.array(steps), np.array(values), 2000)
    assert len(ds_values) <= 2000 and ds_steps == sorted(ds_steps)
    assert (ds_steps[0], ds_steps[-1]) == (steps[0], steps[-1])
    kept = dict(zip(ds_steps, ds_values, strict=True))
    assert all(kept[steps[i]] == values[i] for i in range(n) if abs(values[i]) >= 50), "a spike was dropped"
    assert max(ds_values) == max(values) and min(ds_values) == min(values)
    # each of the 500 index buckets keeps its own min and max (checked by brute force here)
    for b in range(0, 500, 37):
        lo, hi = b * n // 500, (b + 1) * n // 500
        assert kept[steps[lo + values[lo:hi].index(max(values[lo:hi]))]] == max(values[lo:hi])
        assert kept[steps[lo + values[lo:hi].index(min(values[lo:hi]))]] == min(values[lo:hi])


def test_numpy_and_reference_versions_agree() -> None:
    import numpy as np

    steps, values = spiky(20_000, seed=3)
    assert _downsample_np(np.array(steps), np.array(values), 400) == downsample(steps, values, 400)
    assert downsample([1, 2], [3.0, 4.0], 10) == ([1, 2], [3.0, 4.0])
    with pytest.raises(UsageError, match="max_points"):
        downsample(steps, values, 3)


def test_real_sb3_event_file_matches_tensorboard(bot_fixtures: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = bot_fixtures / "tensorboard" / "PPO_25"
    acc = EventAccumulator(str(run))
    acc.Reload()
    got = read_curves(run, SB3_TAGS)
    for tag in SB3_TAGS:
        ref = acc.Scalars(tag)
        assert got[tag] == ([e.step for e in ref], [pytest.approx(e.value) for e in ref])
    assert "eval/mean_reward" not in read_curves(run, ["eval/mean_reward"])


def test_figure_from_demo_and_sb3_files_names_its_tags(tmp_path: Path, bot_fixtures: Path) -> None:
    build_demo(tmp_path, sessions=5)
    root = tmp_path / "artifacts"
    shutil.copytree(bot_fixtures / "tensorboard" / "PPO_25", root / "sb3run" / "tb" / "PPO_25")
    sessions = load_artifacts(root).sessions
    curves = [session_curves(s, SB3_TAGS) for s in sessions]
    with_curves = {c.session_id for c in curves if c.series}
    assert "sb3run" in with_curves and len(with_curves) >= 4  # the demo's sessions write tb/ event files
    fig = curves_figure(curves, [*SB3_TAGS, "eval/mean_reward"], highlight="sb3run")
    assert fig is not None
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == SB3_TAGS  # no empty panel for a tag nobody logged
    thick = [ln for ln in fig.axes[0].lines if ln.get_linewidth() > 2]
    assert [ln.get_label() for ln in thick] == ["sb3run (selected)"]
    alt = curves_alt([*SB3_TAGS, "eval/mean_reward"], curves, "sb3run")
    assert (
        alt == f"Learning curves of {len(curves)} session(s): " + ", ".join(SB3_TAGS) + "; sb3run highlighted"
    )
    assert curves_figure(curves, ["no/such_tag"]) is None


def test_rolling_band_by_hand() -> None:
    values = [1.0, 2.0, 3.0, 10.0, 4.0]
    band = rolling_band(values, window=3, k=2)
    assert band[:3] == [None, None, None]
    assert band[3] == (2.0 - 2 * 1.0, 2.0, 2.0 + 2 * 1.0)  # baseline 1,2,3: median 2, MAD 1
    assert band[4] == (3.0 - 2 * 1.0, 3.0, 3.0 + 2 * 1.0)  # baseline 2,3,10: median 3, MAD 1


def test_session_without_tb_folder(make_tree: MakeTree) -> None:
    (s,) = load_artifacts(make_tree({"bare": {"summary.json": {"rl_sharpe": 1}}})).sessions
    assert session_curves(s, SB3_TAGS).series == {}


def test_interactive_mode_picks_sessions_and_tags(
    tmp_path: Path, bot_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JupyterLab mode: a session picker and a tags box; changing them redraws with the new tags."""
    import ipywidgets as widgets

    from ztbkit.reports.dashboard_analysis import show_learning_curves

    for run in ("PPO_25", "PPO_22"):
        shutil.copytree(bot_fixtures / "tensorboard" / run, tmp_path / "a" / run / "tb" / run)
    sessions = load_artifacts(tmp_path / "a").sessions
    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda *items, **_: shown.extend(items))
    show_learning_curves(sessions, {"tags": ["train/loss"]}, interactive=True)
    box = next(x for x in shown if isinstance(x, widgets.HBox))
    picker, tags = box.children
    assert set(picker.value) == {"PPO_22", "PPO_25"}

    def alts() -> list[str]:
        return [x.metadata["alt"] for x in shown if hasattr(x, "metadata") and isinstance(x.metadata, dict)]

    assert alts()[-1].startswith("Learning curves of 2 session(s): train/loss")
    tags.value = "time/fps, rollout/ep_rew_mean"
    picker.value = ("PPO_22",)
    assert alts()[-1].startswith("Learning curves of 1 session(s): time/fps, rollout/ep_rew_mean")


def test_band_on_a_start_date_axis() -> None:
    """The trends x-axis is (becoming) the session start date: the band must draw on dates too."""
    from datetime import datetime, timedelta

    from matplotlib.figure import Figure

    from ztbkit.analysis.curves import add_median_band

    ax = Figure().add_subplot()
    xs = [datetime(2025, 10, 1, tzinfo=UTC) + timedelta(days=i) for i in range(8)]
    ys = [1.0, 1.2, 0.9, 1.1, 1.0, 0.2, 1.05, 1.0]
    ax.plot(xs, ys)
    add_median_band(ax, xs, ys, window=4, k=2)
    (band,) = ax.collections
    assert len(ax.lines) == 2 and band.get_label() == "rolling median ± 2·MAD (last 4)"
    add_median_band(ax, xs[:3], ys[:3])  # too short for a band: nothing drawn, no error
    assert len(ax.collections) == 1
