"""``ztb watch``: the firing → repeat → resolved cycle as a webhook receives it, ``for_sec`` holding
back a blip, hostile live files each their own alert, kill -9 during 50 evaluations, and an idle
evaluation that imports nothing heavy. Real processes, the local Discord-like server (fakehook),
faketime for the hours in between."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import sh
from fakehook import TOKEN, FakeHook
from watchkit import age, env_for, live_folder, watch_once, write_config

from ztbkit.core.clock import FakeClock
from ztbkit.watch.config import load_config
from ztbkit.watch.engine import evaluate_once

FIRING, REPEAT, RESOLVED = (
    f"[{s}] live_stale · stats.json" for s in ("firing", "firing · repeat", "resolved")
)


def test_stale_file_fires_once_repeats_after_the_interval_and_resolves_once(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    live = live_folder(tmp_path / "live")
    write_config(tmp_path / "watch.toml")
    env = env_for(hook_server.url())
    r = watch_once(tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert hook_server.titles == [] and "0 firing" in r.stdout
    age(live, 1200, ("stats.json",))
    for _ in range(5):
        r = watch_once(tmp_path, env)
        assert r.returncode == 0, r.stdout + r.stderr
    assert hook_server.titles == [FIRING]
    age(live, -62 * 60, ("trade-state.json",))  # the bot keeps writing its trade state
    for _ in range(2):  # an hour later: one repeat, not two
        assert watch_once(tmp_path, env, shift="+61m").returncode == 0
    assert hook_server.titles == [FIRING, REPEAT]
    age(live, -62 * 60, ("stats.json",))  # fresh again, an hour on
    for _ in range(3):
        assert watch_once(tmp_path, env, shift="+62m").returncode == 0
    assert hook_server.titles == [FIRING, REPEAT, RESOLVED]
    bodies = [s.body["embeds"][0] for s in hook_server.seen]
    assert "not modified for 20 min" in bodies[0]["description"]
    assert {f["name"]: f["value"] for f in bodies[2]["fields"]}["State"] == "resolved"
    assert bodies[2]["description"].startswith("cleared after 62 min; it was: ")
    transcript = "\n".join(f"{e['title']} | {e['description']} | {e['footer']['text']}" for e in bodies)
    (tmp_path / "transcript.txt").write_text(transcript, encoding="utf-8")
    print(transcript)
    assert TOKEN not in r.stdout + r.stderr


def test_for_sec_holds_back_a_blip(tmp_path: Path, hook_server: FakeHook) -> None:
    live = live_folder(tmp_path / "live")
    age(live, 1200, ("stats.json",))
    write_config(tmp_path / "watch.toml", "for_sec = 120")
    env = env_for(hook_server.url())
    assert watch_once(tmp_path, env).returncode == 0  # pending
    age(live, 0, ("stats.json",))
    assert watch_once(tmp_path, env, shift="+60s").returncode == 0  # cleared before 120 s: a blip
    assert hook_server.titles == []
    age(live, 1200, ("stats.json",))
    assert watch_once(tmp_path, env).returncode == 0
    assert watch_once(tmp_path, env, shift="+60s").returncode == 0
    assert hook_server.titles == []  # 60 s is not yet 120 s
    assert watch_once(tmp_path, env, shift="+130s").returncode == 0
    assert hook_server.titles == [FIRING]


def test_hostile_live_files_are_each_their_own_alert(tmp_path: Path) -> None:
    write_config(tmp_path / "watch.toml")
    env = env_for()
    r = watch_once(tmp_path, env, extra="--dry-run")  # no live folder at all
    assert r.returncode == 0 and "would send [firing] live_missing · state_dir" in r.stdout, (
        r.stdout + r.stderr
    )
    live = live_folder(tmp_path / "live")
    (live / "stats.json").write_text('{"date": "2025-09-29", "data": [', encoding="utf-8")
    (live / "trade-state.json").write_text(
        json.dumps({"phase": "two", "consecutiveDays": [5]}), encoding="utf-8"
    )
    r = watch_once(tmp_path, env, extra="--dry-run")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "would send [firing] live_unreadable · stats.json" in r.stdout
    assert "would send [firing] live_unreadable · trade-state.json" in r.stdout
    assert "phase is str 'two', expected int" in r.stdout
    (live / "stats.json").unlink()
    r = watch_once(tmp_path, env, extra="--dry-run")
    assert "would send [firing] live_missing · stats.json" in r.stdout


def test_kill_9_at_random_points_during_50_evaluations_loses_no_transition(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    """10 phases (stale, fresh, stale, ...) of 5 evaluations; the first 4 of each may be killed at a
    random moment, the 5th completes. Every transition reaches the webhook, none more than twice."""
    live = live_folder(tmp_path / "live")
    write_config(tmp_path / "watch.toml")
    env = env_for(hook_server.url())
    rng = random.Random(int(os.environ.get("ZTB_KILL_SEED", "26")))
    t0 = time.monotonic()
    assert watch_once(tmp_path, env).returncode == 0
    whole = time.monotonic() - t0  # kill points fall inside one evaluation, on a fast or a loaded machine
    command = ["ztb", "watch", "--once", "--config", "watch.toml", "--state-dir", "."]
    killed = 0
    for phase in range(10):
        age(live, 1200 if phase % 2 == 0 else 0, ("stats.json",))
        for i in range(5):
            proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)  # fmt: skip
            if i < 4:
                time.sleep(rng.uniform(0.05, 0.95) * whole)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    killed += 1
            out, _ = proc.communicate(timeout=120)
            if i == 4:
                assert proc.returncode == 0, out
    kinds = [t.split("]")[0].strip("[") for t in hook_server.titles]
    collapsed = [k for j, k in enumerate(kinds) if j == 0 or kinds[j - 1] != k]
    assert collapsed == ["firing", "resolved"] * 5, (killed, kinds)
    assert len(kinds) <= 20 and killed > 10, (killed, kinds)  # at most one extra copy per transition


def test_an_idle_evaluation_imports_nothing_heavy(tmp_path: Path, hook_server: FakeHook) -> None:
    beat = FakeHook()
    try:
        live_folder(tmp_path / "live")
        write_config(tmp_path / "watch.toml", heartbeat=beat.url().replace("api/webhooks", "ping"))
        code = (
            "import sys\nfrom ztbkit.cli import main\ntry:\n    main(['watch', '--once', '--config', 'watch.toml',"
            " '--state-dir', '.'])\nexcept SystemExit as exc:\n    print('exit', exc.code)\n"
            "print('heavy', sorted(m for m in ('pandas', 'numpy', 'matplotlib', 'requests', 'urllib3', 'papermill')"
            " if m in sys.modules))\n"
        )
        r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env_for(hook_server.url()),
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        assert "exit 0" in r.stdout and "heavy []" in r.stdout, r.stdout + r.stderr
        assert len(beat.seen) == 1  # the heartbeat went out without requests
    finally:
        beat.close()


def test_a_silence_suppresses_and_an_alert_still_firing_is_sent_when_it_ends(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    live = live_folder(tmp_path / "live", age_sec=1200)
    write_config(tmp_path / "watch.toml")
    env = env_for(hook_server.url())
    r = sh("ztb silence add live_stale:stats.json --for 30m --comment 'moving the bot'", env, tmp_path)
    assert r.returncode == 0 and "silence " in r.stdout, r.stderr
    silence_id = r.stdout.split()[1].rstrip(":")
    assert "live_stale:stats.json" in sh("ztb silence list", env, tmp_path).stdout
    for _ in range(3):
        assert watch_once(tmp_path, env).returncode == 0
    assert hook_server.titles == ["[firing] live_stale · trade-state.json"]  # only the unsilenced subject
    assert watch_once(tmp_path, env, shift="+31m").returncode == 0  # the silence ended on its own
    assert hook_server.titles[-1] == FIRING
    assert "no active silences" in sh("faketime -f +31m ztb silence list", env, tmp_path).stdout
    r = sh(f"ztb silence expire {silence_id}", env, tmp_path)
    assert (r.returncode == 2 and "no active silence" in r.stderr) or r.returncode == 0
    age(live, 0)
    r = sh("ztb silence add live_stale --for 2h", env, tmp_path)
    new_id = r.stdout.split()[1].rstrip(":")
    assert sh(f"ztb silence expire {new_id}", env, tmp_path).returncode == 0
    assert sh("ztb silence add no_such_rule --for 2h", env, tmp_path).returncode == 2
    assert "--for" in sh("ztb silence add live_stale --for soon", env, tmp_path).stderr


def test_in_process_silence_holds_a_resolved_and_the_lifecycle_keys_by_rule_and_subject(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    live = live_folder(tmp_path / "live", age_sec=1200)
    write_config(tmp_path / "watch.toml")
    os.environ["ZTB_DISCORD_WEBHOOK"] = hook_server.url()
    try:
        cfg = load_config(tmp_path / "watch.toml", tmp_path)
        clock = FakeClock(datetime.now(UTC))
        lines: list[str] = []
        for _ in range(4):
            evaluate_once(cfg, clock=clock, say=lines.append)
        assert sorted(hook_server.titles) == sorted([FIRING, "[firing] live_stale · trade-state.json"])
        state = json.loads((tmp_path / ".ztb" / "watch-state.json").read_text())
        assert sum(k.startswith("live_stale:") for k in state["alerts"]) == 2 and state["outgoing"] == []
        from ztbkit.watch import current_alerts

        frame = current_alerts(tmp_path)
        assert list(frame["rule"]) == ["live_stale", "live_stale"] and set(frame["state"]) == {"firing"}
        age(live, 0)
        clock.advance(60)
        evaluate_once(cfg, clock=clock, say=lines.append)
        assert sum(t.startswith("[resolved]") for t in hook_server.titles) == 2
        assert current_alerts(tmp_path).empty
    finally:
        del os.environ["ZTB_DISCORD_WEBHOOK"]


def test_bad_config_and_no_webhook_are_exit_2(tmp_path: Path) -> None:
    env = env_for()
    (tmp_path / "watch.toml").write_text("[live]\nstale_after_sec = 'soon'\n", encoding="utf-8")
    r = sh("ztb watch --once --config watch.toml", env, tmp_path)
    assert r.returncode == 2 and "watch.toml: [live] stale_after_sec: expected a number" in r.stderr
    (tmp_path / "watch.toml").write_text(
        "[routes]\nurgent = 'https://discord.com/api/webhooks/1/x'\n[livee]\n"
    )
    r = sh("ztb watch --once --config watch.toml", env, tmp_path)
    assert r.returncode == 2 and "[livee]: unknown table" in r.stderr
    write_config(tmp_path / "watch.toml")
    r = sh("ztb watch --once --config watch.toml", env, tmp_path)
    assert r.returncode == 2 and "no webhook" in r.stderr
    assert sh("ztb watch --once --config missing.toml", env, tmp_path).returncode == 2


def test_the_loop_stops_cleanly_on_sigterm(tmp_path: Path, hook_server: FakeHook) -> None:
    live_folder(tmp_path / "live", age_sec=1200)
    write_config(tmp_path / "watch.toml")
    proc = subprocess.Popen(["ztb", "watch", "--config", "watch.toml", "--state-dir", ".", "--interval-sec", "1"],
                            cwd=tmp_path, env=env_for(hook_server.url()), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not hook_server.titles:
        time.sleep(0.1)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped: the last evaluation finished" in out, err
    assert hook_server.titles.count(FIRING) == 1
    state = json.loads((tmp_path / ".ztb" / "watch-state.json").read_text())
    assert state["evaluations"] >= 2 and datetime.fromisoformat(state["last_eval"]) > datetime.now(
        UTC
    ) - timedelta(minutes=1)
