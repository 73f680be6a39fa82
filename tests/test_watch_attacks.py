"""``ztb watch`` attacked from outside: live files whose sums overflow to infinity, hostile watch.toml
files (a FIFO, non-UTF-8 bytes, nesting deeper than the parser's recursion), digest dates at the
edge of the calendar, and two ``--once`` racing on the same transition. Real processes as cron runs
them (``/bin/sh -c``, a clean environment) and the local Discord-like server (fakehook)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from conftest import sh
from fakehook import TOKEN, FakeHook, RawHook, Reply
from watchkit import age, env_for, live_folder, watch_once, write_config


def test_a_loss_that_overflows_to_infinity_still_fires_and_the_state_is_written(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    """Two pairs at -1e308 each sum to -inf: the alert must go out, the state must stay writable."""
    live = live_folder(tmp_path / "live")
    write_config(tmp_path / "watch.toml")
    env = env_for(hook_server.url())
    today = sh("TZ=Asia/Tokyo date +%F", env, tmp_path).stdout.strip()
    (live / "stats.json").write_text(
        json.dumps({"date": today, "data": [
            {"pair": "btc_jpy", "stats": {"realizedPnl": -1e308, "maxDrawdown": 1e308}},
            {"pair": "eth_jpy", "stats": {"realizedPnl": -1e308, "maxDrawdown": 0}}]}),
        encoding="utf-8",
    )  # fmt: skip
    r = watch_once(tmp_path, env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert f"[firing] live_daily_loss · {today}" in hook_server.titles
    assert "[firing] live_drawdown · btc_jpy" in hook_server.titles
    state = json.loads((tmp_path / ".ztb" / "watch-state.json").read_text(encoding="utf-8"))
    assert state["outgoing"] == [] and f"live_daily_loss:{today}" in state["alerts"]
    r = watch_once(tmp_path, env)  # the next minute: nothing new, no second copy
    assert r.returncode == 0 and len(hook_server.titles) == 2, r.stdout + r.stderr


def test_a_hostile_config_is_one_line_naming_it_and_exit_2(tmp_path: Path) -> None:
    env = env_for("http://127.0.0.1:9/api/webhooks/1/x")
    cases = {
        "deep.toml": b"x = " + b"[" * 5000,
        "latin1.toml": b"\xff\xfe[live]\nstale_after_sec = 900\n",
        "digits.toml": b"[live]\nstale_after_sec = " + b"9" * 5000 + b"\n",
        "folder.toml": None,
        "fifo.toml": None,
    }
    for name, content in cases.items():
        if name == "folder.toml":
            (tmp_path / name).mkdir()
        elif name == "fifo.toml":
            os.mkfifo(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(content or b"")
        try:
            r = sh(f"ztb watch --once --dry-run --config {name}", env, tmp_path, timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{name}: ztb watch hung reading its config") from None
        assert r.returncode == 2, (name, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
        assert name in r.stderr and r.stderr.startswith("ztb: error: --config: "), (name, r.stderr)


def test_the_digest_at_the_edge_of_the_calendar_is_exit_2_or_a_digest(tmp_path: Path) -> None:
    env = env_for()
    for period, day in (("week", "0001-01-01"), ("week", "0001-01-06")):
        r = sh(f"ztb digest --dry-run --state-dir . --period {period} --date {day}", env, tmp_path)
        assert "Traceback" not in r.stderr, (period, day, r.stderr)
        assert r.returncode == 2 and r.stderr.strip().splitlines() == [
            f"ztb: error: --date: {day}: a {period} ending then starts before the year 1"
        ], (period, day, r.stderr)
    for period, day in (("week", "0001-01-07"), ("month", "9999-12-31"), ("day", "0001-01-01")):
        r = sh(f"ztb digest --dry-run --state-dir . --period {period} --date {day}", env, tmp_path)
        assert r.returncode == 0 and "not watched" in r.stdout, (period, day, r.stdout + r.stderr)
    ztb = tmp_path / ".ztb"  # hand-edited stamps at the very end of the calendar: skipped, not a traceback
    ztb.mkdir()
    edge = "9999-12-31T23:00:00-09:00"
    (ztb / "watch-state.json").write_text(json.dumps(
        {"version": 1, "alerts": {}, "outgoing": [], "memory": {}, "watching_since": edge}), encoding="utf-8")  # fmt: skip
    (ztb / "watch-events.jsonl").write_text(
        json.dumps({"at": edge, "kind": "firing", "rule": "live_stale"}) + "\n"
    )
    r = sh("ztb digest --dry-run --state-dir . --date 2025-10-31", env, tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr


def test_two_watches_racing_on_one_transition_send_one_message(tmp_path: Path, hook_server: FakeHook) -> None:
    """Two ``ztb watch --once`` started together (cron and a manual run), 30 transitions in a row:
    every firing and every resolved is sent exactly once."""
    live = live_folder(tmp_path / "live")
    write_config(tmp_path / "watch.toml")
    env = env_for(hook_server.url())
    assert watch_once(tmp_path, env).returncode == 0
    command = "ztb watch --once --config watch.toml --state-dir ."
    rounds = 30
    for i in range(rounds):
        age(live, 1200 if i % 2 == 0 else 0, ("stats.json",))
        procs = [subprocess.Popen(["/bin/sh", "-c", command], env=env, cwd=tmp_path, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]  # fmt: skip
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        assert "Traceback" not in "".join(o + e for o, e in outs)
        if any("skipped" in o for o, _ in outs):  # the loser of the lock runs once more, as cron would
            assert watch_once(tmp_path, env).returncode == 0
    expected = ["[firing] live_stale · stats.json", "[resolved] live_stale · stats.json"] * (rounds // 2)
    assert hook_server.titles == expected


def test_a_webhook_that_refuses_for_good_is_exit_1_not_ok(tmp_path: Path) -> None:
    """A 404 (the channel's webhook was deleted) or a redirect: the alert did not get through and
    never will; cron's exit status must say so (README: exit 1 when a message did not get through)."""
    live = live_folder(tmp_path / "live")
    age(live, 1200, ("stats.json",))
    write_config(tmp_path / "watch.toml")
    for status, headers in ((404, {}), (302, {"Location": "http://127.0.0.1:9/elsewhere"})):
        hook = FakeHook(always=Reply(status, {"message": "Unknown Webhook", "code": 10015}, headers))
        try:
            for path in (tmp_path / ".ztb").glob("watch-state.json"):
                path.unlink()  # the same firing again, as a new alert
            r = watch_once(tmp_path, env_for(hook.url()))
        finally:
            hook.close()
        assert r.returncode == 1, (status, r.stdout + r.stderr)
        assert "failed permanently" in r.stdout and "delivered" not in r.stdout, r.stdout
        assert "ztb-outbox-dead.jsonl" in r.stdout and TOKEN not in r.stdout + r.stderr, r.stdout


def test_a_cut_after_the_status_line_is_not_delivered(tmp_path: Path) -> None:
    """A server that sends ``HTTP/1.1 204`` and then drips its headers past the deadline never
    finished answering: the alert stays in the outbox (README: "sent" only when true)."""
    live = live_folder(tmp_path / "live")
    age(live, 1200, ("stats.json",))
    write_config(tmp_path / "watch.toml")
    drip = RawHook("drip", interval=0.1)  # the status line in 2.5 s, the headers would take 23 s
    try:
        env = env_for(drip.url(), ZTB_WEBHOOK_TIMEOUT_SEC="6", ZTB_DELIVERY_BUDGET_SEC="7")
        r = watch_once(tmp_path, env)
    finally:
        drip.close()
    assert r.returncode == 1 and "delivered" not in r.stdout, r.stdout + r.stderr
    assert "kept in the outbox to retry" in r.stdout and "no complete answer within 6 s" in r.stdout


def test_a_clock_put_back_a_day_holds_back_neither_firing_nor_repeat(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    """The PC's clock ran a day ahead, then NTP put it right: stamps written in that future must not
    keep a pending alert pending (or a repeat waiting) for a day."""
    live = live_folder(tmp_path / "live")
    write_config(tmp_path / "watch.toml", "for_sec = 120")
    env = env_for(hook_server.url())
    age(live, 1200, ("stats.json",))
    assert watch_once(tmp_path, env, shift="+1d").returncode == 0  # pending, seen "tomorrow"
    age(live, 0, ("trade-state.json",))
    assert watch_once(tmp_path, env).returncode == 0  # the clock is right again: pending from now
    assert hook_server.titles == []
    r = watch_once(tmp_path, env, shift="+3m")
    assert r.returncode == 0 and hook_server.titles == ["[firing] live_stale · stats.json"], r.stdout
    age(live, -4 * 86400, ("trade-state.json",))
    for shift in ("+1d", "+1d"):  # the clock runs ahead again: one repeat there, as due
        assert watch_once(tmp_path, env, shift=shift).returncode == 0
    assert hook_server.titles[1:] == ["[firing · repeat] live_stale · stats.json"]
    assert watch_once(tmp_path, env, shift="+5m").returncode == 0  # put right: not due yet
    assert len(hook_server.titles) == 2
    r = watch_once(tmp_path, env, shift="+66m")  # an hour (repeat_interval_sec) on: repeated
    assert hook_server.titles[2:] == ["[firing · repeat] live_stale · stats.json"], r.stdout


def test_a_state_of_the_wrong_shape_is_set_aside_not_a_crash_every_minute(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    """Valid JSON with the wrong types inside (hand-edited, another version): the watch keeps it as
    ``.unreadable`` and starts fresh, as README promises, instead of a traceback every minute."""
    live = live_folder(tmp_path / "live")
    write_config(tmp_path / "watch.toml")
    env = env_for(hook_server.url())
    firing = {"rule": "live_stale", "subject": "stats.json", "state": "firing", "seen": 3,
              "active_since": "2025-01-01T00:00:00", "fired_at": None, "last_sent": "2025-01-01T00:00:00"}  # fmt: skip
    shapes = [
        {"alerts": {"x": 5}, "outgoing": [], "memory": {}},
        {"alerts": {}, "outgoing": [5, "x"], "memory": {}},
        {"alerts": {}, "outgoing": [], "memory": {"pnl": [1], "running": 5, "scheduler_ok": "x"}},
        {"alerts": {"live_stale:stats.json": firing}, "outgoing": [], "memory": {}},  # naive stamps
        {"alerts": {"live_stale:stats.json": {**firing, "seen": "3"}}, "outgoing": [], "memory": {}},
        {"alerts": {}, "outgoing": [], "memory": {}, "last_eval": "yesterday", "interval_sec": "60"},
    ]
    age(live, 1200, ("stats.json",))
    for i, shape in enumerate(shapes):
        (tmp_path / ".ztb").mkdir(exist_ok=True)
        (tmp_path / ".ztb" / "watch-state.json").write_text(json.dumps({"version": 1, **shape}))
        r = watch_once(tmp_path, env)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (i, r.stdout + r.stderr)
        assert "kept as watch-state.json.unreadable, starting fresh" in r.stderr, (i, r.stderr)
        assert hook_server.titles[-1] == "[firing] live_stale · stats.json", (i, r.stdout)
        assert watch_once(tmp_path, env).returncode == 0  # the fresh state works the next minute
    assert len(hook_server.titles) == len(shapes)


def test_a_silence_shorter_than_a_second_is_refused_not_reported_as_made(tmp_path: Path) -> None:
    env = env_for()
    for bad in ("0.0000001s", "0.5s", "0s", "91d", "1e5h", "-1h", "2x"):
        r = sh(f"ztb silence add live_stale --for '{bad}' --state-dir .", env, tmp_path)
        assert r.returncode == 2 and r.stderr.startswith("ztb: error: --for: "), (bad, r.stdout + r.stderr)
        assert "silence " not in r.stdout, (bad, r.stdout)
    r = sh("ztb silence list --all --state-dir .", env, tmp_path)
    assert r.stdout.strip() == "no active silences", r.stdout
    r = sh("ztb silence add live_stale:stats.json --for 1s --state-dir .", env, tmp_path)
    assert r.returncode == 0 and "live_stale:stats.json until" in r.stdout, r.stdout + r.stderr


def test_doctor_reads_a_state_of_the_wrong_shape_as_a_warning_not_a_crashed_check(tmp_path: Path) -> None:
    (tmp_path / "run-1").mkdir()
    (tmp_path / ".ztb").mkdir()
    shape = {"alerts": {}, "outgoing": [], "memory": {}, "last_eval": "yesterday", "interval_sec": "60"}
    (tmp_path / ".ztb" / "watch-state.json").write_text(json.dumps({"version": 1, **shape}))
    r = sh("ztb doctor --correlation-id run-1 --artifacts-dir . --state-file .ztb/cronish-state.json",
           env_for(), tmp_path)  # fmt: skip
    line = next(x for x in r.stdout.splitlines() if "watch_state" in x)
    assert line.startswith("[WARN] watch_state: ") and "not a watch state" in line, r.stdout + r.stderr
    assert "crashed" not in r.stdout and "Traceback" not in r.stderr
    assert (tmp_path / ".ztb" / "watch-state.json").exists()  # the doctor only reads: nothing set aside


def test_a_dripping_heartbeat_server_leaves_no_thread_or_socket_behind() -> None:
    """``ztb watch`` as a service pings every minute: a heartbeat server that drips its answer must
    not keep each ping's thread and socket alive after its deadline (60 an hour would pile up)."""
    import threading

    from ztbkit.notify.heartbeat import ping

    drip = RawHook("dripbody", interval=0.3)  # 200 at once, then a body that never ends
    try:
        for _ in range(3):
            ping(drip.url(), timeout=1.0)  # its verdict is not the point here: what it leaves behind is

        def pinging() -> list[threading.Thread]:
            return [t for t in threading.enumerate() if "_get" in t.name or "heartbeat" in t.name]

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and pinging():
            time.sleep(0.1)
        left = pinging()
        assert left == [], f"{len(left)} ping thread(s) still reading the dripping server"
    finally:
        drip.close()


def test_a_wait_longer_than_a_year_is_refused_not_a_rule_that_never_fires(tmp_path: Path) -> None:
    """`for_sec = 1e308` was accepted: that rule could then never fire, silence nobody asked for."""
    env = env_for("http://127.0.0.1:9/api/webhooks/1/x")
    cases = {
        "for.toml": ("[rules.live_stale]\nfor_sec = 1e308\n", "[rules.live_stale] for_sec"),
        "stale.toml": ("[live]\nstale_after_sec = 1e12\n", "[live] stale_after_sec"),
        "job.toml": ("[scheduler.jobs]\nnightly = 40000000\n", "[scheduler.jobs] nightly"),
    }
    for name, (text, key) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        r = sh(f"ztb watch --once --dry-run --config {name}", env, tmp_path, timeout=60)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
        assert key in r.stderr and "more than a year" in r.stderr, (name, r.stderr)
    (tmp_path / "year.toml").write_text("[rules.live_stale]\nfor_sec = 31622400\n", encoding="utf-8")
    r = sh("ztb watch --once --dry-run --config year.toml", env, tmp_path, timeout=60)
    assert "more than a year" not in r.stderr and r.returncode != 2, r.stderr  # 366 days is allowed
