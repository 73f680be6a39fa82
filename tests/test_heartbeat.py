"""The outside heartbeat: one GET per evaluation that worked, ``/fail`` when alerts are not getting
through or a scheduled job failed, ``/start`` when a job starts; bounded in time, never retried, the
token never printed. Real processes against local servers on 127.0.0.1."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import sh
from fakehook import TOKEN, FakeHook, RawHook, Reply
from watchkit import age, env_for, live_folder, watch_once, write_config

from ztbkit.notify.heartbeat import ping, ping_url


def beat_url(server: FakeHook) -> str:
    return server.url().replace("api/webhooks/123456", "ping")


def test_one_ping_per_evaluation_and_the_token_is_never_printed(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    beat = FakeHook()
    try:
        live = live_folder(tmp_path / "live")
        write_config(tmp_path / "watch.toml", heartbeat=beat_url(beat))
        env = env_for(hook_server.url())
        outputs = []
        for i in range(4):
            if i == 2:
                age(live, 1200, ("stats.json",))  # an alert fires: the pipeline still works
            r = watch_once(tmp_path, env)
            assert r.returncode == 0, r.stdout + r.stderr
            outputs.append(r.stdout + r.stderr)
        assert [(s.method, s.path) for s in beat.seen] == [("GET", f"/ping/{TOKEN}")] * 4
        assert all("heartbeat to http://127.0.0.1" in o and ": sent (HTTP 204)" in o for o in outputs)
        assert not any(TOKEN in o for o in outputs)
        state = (tmp_path / ".ztb" / "watch-state.json").read_text()
        assert TOKEN not in state and '"ok": true' in state
    finally:
        beat.close()


def test_alerts_stuck_in_the_outbox_ping_fail(tmp_path: Path) -> None:
    down, beat = FakeHook(always=Reply(500, {"message": "down"})), FakeHook()
    try:
        live_folder(tmp_path / "live", age_sec=1200)
        write_config(tmp_path / "watch.toml", heartbeat=beat_url(beat))
        text = (tmp_path / "watch.toml").read_text()
        (tmp_path / "watch.toml").write_text(
            text.replace("disk_min_free_gb = 0", "disk_min_free_gb = 0\noutbox_backlog_sec = 5")
        )
        env = env_for(down.url(), ZTB_DELIVERY_BUDGET_SEC="1")
        r = watch_once(tmp_path, env)
        assert r.returncode == 1 and "kept in the outbox" in r.stdout, r.stdout + r.stderr
        r = watch_once(tmp_path, env, shift="+30s")
        assert r.returncode == 1
        assert [s.path for s in beat.seen] == [f"/ping/{TOKEN}", f"/ping/{TOKEN}/fail"]
        assert "outbox_backlog" in r.stdout
    finally:
        down.close()
        beat.close()


def test_a_hanging_heartbeat_server_costs_at_most_its_timeout_and_is_not_retried() -> None:
    hang = RawHook("hang")
    try:
        t0 = time.monotonic()
        result = ping(hang.url(), timeout=1.0)
        took = time.monotonic() - t0
        assert not result.ok and "no answer within 1 s (not retried)" in result.detail
        assert took < 5  # bounded by the 1 s deadline (margin for a loaded machine), not by the server
        time.sleep(1.0)
        assert hang.hits <= 1  # one attempt, never a retry
        assert TOKEN not in result.detail
    finally:
        hang.close()


def test_ping_url_keeps_a_query_and_refuses_other_schemes() -> None:
    assert ping_url("https://hc-ping.com/abc", "fail") == "https://hc-ping.com/abc/fail"
    assert ping_url("https://hc-ping.com/abc?rid=1", "start") == "https://hc-ping.com/abc/start?rid=1"
    assert not ping("ftp://example.invalid/x").ok
    kuma = "https://kuma.example/api/push/Tok3n?status=up&msg=OK&ping="
    assert ping_url(kuma) == kuma
    assert ping_url(kuma, "fail") == "https://kuma.example/api/push/Tok3n?status=down&msg=fail&ping="


def test_cronish_pings_start_and_fail_for_a_failing_job_and_success_for_a_good_one(tmp_path: Path) -> None:
    beat = FakeHook()
    try:
        env = env_for(None, ZTB_HEARTBEAT_URL=beat_url(beat))
        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        (tmp_path / "st").mkdir()
        (tmp_path / "st" / "state.json").write_text(json.dumps(
            {"version": 1, "jobs": {n: {"last_slot": an_hour_ago} for n in ("bad", "good")}}))  # fmt: skip
        r = sh("ztb cronish --interval-sec 60 --max-catchup 1 --name bad --once --state-file st/state.json -- false",
               env, tmp_path)  # fmt: skip
        assert r.returncode == 1, r.stdout + r.stderr
        bad = [s.path for s in beat.seen]  # a catch-up run and perhaps the due one: each start, then fail
        assert bad and bad == [f"/ping/{TOKEN}/start", f"/ping/{TOKEN}/fail"] * (len(bad) // 2), bad
        r = sh(f"ztb cronish --interval-sec 60 --max-catchup 1 --name good --once --state-file st/state.json "
               f"--heartbeat-url '{beat_url(beat)}' -- true", env, tmp_path)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        good = [s.path for s in beat.seen][len(bad) :]
        assert good and good == [f"/ping/{TOKEN}/start", f"/ping/{TOKEN}"] * (len(good) // 2), good
        assert TOKEN not in r.stdout + r.stderr
    finally:
        beat.close()


def test_when_ztbkit_itself_cannot_work_the_heartbeat_gets_fail_at_once(
    tmp_path: Path, hook_server: FakeHook
) -> None:
    beat = FakeHook()
    try:
        live_folder(tmp_path / "live")
        write_config(tmp_path / "watch.toml", heartbeat=beat_url(beat))
        (tmp_path / ".ztb" / "watch.lock").mkdir(parents=True)  # its lock cannot be taken
        r = watch_once(tmp_path, env_for(hook_server.url()))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "watch.lock" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and [s.path for s in beat.seen] == [f"/ping/{TOKEN}/fail"]
        (tmp_path / ".ztb" / "watch.lock").rmdir()
        (tmp_path / ".ztb" / "watch-events.jsonl").mkdir()  # the digest's log is broken: alerts still go out
        age(tmp_path / "live", 1200)
        r = watch_once(tmp_path, env_for(hook_server.url()))
        assert r.returncode == 0 and "cannot log for the digest" in r.stderr, r.stderr
        assert len(hook_server.titles) == 2 and [s.path for s in beat.seen][-1] == f"/ping/{TOKEN}"
    finally:
        beat.close()
