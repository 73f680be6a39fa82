"""The "never lost" promise, broken the way the world breaks it: kill -9 during retries, servers that
drip, hang, redirect or echo the URL, a held lock, two flushers racing, hostile outbox files."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import MakeTree
from fakehook import TOKEN, FakeHook, RawHook, Reply

from ztbkit.notify import Alert, Outbox, Policy, deliver
from ztbkit.notify.discord import build_payload
from ztbkit.notify.dispatch import flush
from ztbkit.notify.webhook import Webhook

GATES = {"gates": [{"name": "memory_rss", "status": "fail", "error": "RSS 2.6GB"}]}


def clean_env(**extra: str) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def ztb(*args: str) -> list[str]:
    return [sys.executable, "-m", "ztbkit", *args]


def wait_for(what: Callable[[], bool], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < end, "timed out waiting for an event"
        time.sleep(0.02)


@pytest.fixture
def server_500() -> Iterator[FakeHook]:
    server = FakeHook(always=Reply(500, {"message": "boom"}))
    yield server
    server.close()


def titles_of(outbox: Outbox) -> list[str]:
    return [e["payload"]["embeds"][0]["title"] for e in outbox.pending()]


def test_kill_9_during_retries_never_loses_the_alert(
    make_tree: MakeTree, server_500: FakeHook, tmp_path: Path
) -> None:
    root = make_tree({"s1": {"reports/gates.json": GATES}})
    rng = random.Random(os.getpid())
    for run in range(6):
        state = tmp_path / f"state{run}"
        hits_before = len(server_500.seen)
        proc = subprocess.Popen(
            ztb("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-dir", str(state)),
            env=clean_env(ZTB_DISCORD_WEBHOOK=server_500.url(), ZTB_WEBHOOK_TIMEOUT_SEC="2"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_for(lambda n=hits_before: len(server_500.seen) > n)  # type: ignore[misc]  # first attempt under way
        time.sleep(rng.uniform(0.0, 5.0))  # somewhere in the 1-2-4 s backoff or an attempt
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "the run ended before the kill; kill earlier"
        # The server never accepted it (always 500), so the outbox must hold it.
        waiting = subprocess.run(ztb("notify", "--state-dir", str(state)), env=clean_env(),
                                 capture_output=True, text=True, timeout=120, encoding="utf-8")  # fmt: skip
        assert waiting.stdout.startswith("1 alert(s) waiting"), (run, waiting.stdout, waiting.stderr)
    # And it really goes out later, once, to the URL it was meant for.
    server_500.always = Reply(204)
    before = len(server_500.titles)
    done = subprocess.run(ztb("notify", "--flush-outbox", "--state-dir", str(tmp_path / "state0")),
                          env=clean_env(), capture_output=True, text=True, timeout=120, encoding="utf-8")  # fmt: skip
    assert done.returncode == 0 and "1 delivered, 0 still waiting" in done.stdout, done.stdout + done.stderr
    assert server_500.titles[before:] == ["Critical gate failed: s1"]
    assert TOKEN not in done.stdout + done.stderr


def test_alert_is_in_the_outbox_before_the_first_attempt(server_500: FakeHook, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    seen_in_outbox: list[list[str]] = []

    def send(hook: Webhook, payload: dict, **kw: object):  # type: ignore[no-untyped-def]
        seen_in_outbox.append(titles_of(Outbox(tmp_path)))  # what a crash right now would leave
        return deliver(hook, payload, **kw)  # type: ignore[arg-type]

    from ztbkit.notify import dispatch

    hook = Webhook(server_500.url(), "discord", "t")
    outbox.enqueue(hook, build_payload(Alert("queued first")))
    dispatch.flush(outbox, send=send, sleep=lambda s: None, policy=Policy(max_retries=1))
    assert seen_in_outbox == [["queued first"]]
    [entry] = outbox.pending()  # failing again on flush keeps it, with the attempts counted
    assert entry["attempts"] == 2 and entry["last_error"] == "HTTP 500: boom"


def test_slow_drip_headers_are_cut_at_the_attempt_deadline(tmp_path: Path) -> None:
    drip = RawHook("drip", interval=0.5)  # a full answer would take ~115 s
    try:
        hook = Webhook(drip.url(), "discord", "t")
        start = time.monotonic()
        result = deliver(hook, build_payload(Alert("x")), sleep=lambda s: None,
                         policy=Policy(attempt_timeout=1.5, max_retries=1))  # fmt: skip
        took = time.monotonic() - start
    finally:
        drip.close()
    assert result.status == "failed-will-retry" and result.attempts == 2
    assert result.detail.startswith("no complete answer within 1.5 s")
    assert took < 30, f"the per-attempt deadline did not hold: {took:.1f} s"  # 2 x 1.5 s, generous margin


def test_command_against_slow_drip_server_is_bounded_and_queues(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"s1": {"reports/gates.json": GATES}})
    drip = RawHook("drip", interval=1.0)
    try:
        r = subprocess.run(
            ztb("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-dir", str(tmp_path)),
            env=clean_env(ZTB_DISCORD_WEBHOOK=drip.url(), ZTB_WEBHOOK_TIMEOUT_SEC="2", ZTB_DELIVERY_BUDGET_SEC="6"),
            capture_output=True, text=True, timeout=120, encoding="utf-8"
        )  # fmt: skip
    finally:
        drip.close()
    assert r.returncode == 1 and "failed, kept in the outbox to retry" in r.stdout, r.stdout + r.stderr
    assert "no complete answer within 2 s" in r.stdout and "Traceback" not in r.stderr
    assert titles_of(Outbox(tmp_path / ".ztb")) == ["Critical gate failed: s1"]


def test_ten_queued_alerts_against_a_hanging_server_wait_within_the_budget(tmp_path: Path) -> None:
    hang = RawHook("hang")
    try:
        outbox = Outbox(tmp_path)
        hook = Webhook(hang.url(), "discord", "t")
        for i in range(10):
            outbox.enqueue(hook, build_payload(Alert(f"alert {i}")))
        start = time.monotonic()
        flushed = flush(outbox, policy=Policy(attempt_timeout=1.0, budget=20.0))
        took = time.monotonic() - start
    finally:
        hang.close()
    # The oldest was tried (4 attempts); the rest wait for the next run instead of hanging this one.
    assert [(e["payload"]["embeds"][0]["title"], r.status, r.attempts) for e, r in flushed] == [
        ("alert 0", "failed-will-retry", 4)
    ]
    assert titles_of(outbox) == [f"alert {i}" for i in range(10)]
    assert took < 60, f"flush was not bounded: {took:.1f} s"


def test_new_alert_is_queued_and_sent_while_a_flusher_holds_the_outbox(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    from filelock import FileLock

    root = make_tree({"s1": {"reports/gates.json": GATES}})
    state = tmp_path / "state"
    hang = RawHook("hang")
    outbox = Outbox(state / ".ztb")
    for i in range(10):
        outbox.enqueue(Webhook(hang.url(), "discord", "t"), build_payload(Alert(f"old {i}")))
    flusher = subprocess.Popen(ztb("notify", "--flush-outbox", "--state-dir", str(state)),
                               env=clean_env(ZTB_WEBHOOK_TIMEOUT_SEC="30"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # fmt: skip
    lock = FileLock(str(outbox.path) + ".lock")
    try:
        wait_for(lambda: hang.hits >= 1)  # the flusher is inside a hanging attempt
        with lock:  # and, worst case, the queue file's lock is held the whole time too
            r = subprocess.run(
                ztb("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-dir", str(state),
                    "--discord-webhook", hook_server.url()),
                env=clean_env(ZTB_WEBHOOK_TIMEOUT_SEC="1", ZTB_DELIVERY_BUDGET_SEC="30"),
                capture_output=True, text=True, timeout=180, encoding="utf-8"
            )  # fmt: skip
            assert "Traceback" not in r.stderr and "Timeout" not in r.stderr, r.stderr
            assert r.returncode == 0 and "delivered to discord" in r.stdout, r.stdout + r.stderr
            assert hook_server.titles == ["Critical gate failed: s1"]
    finally:
        flusher.send_signal(signal.SIGKILL)
        flusher.wait(timeout=60)
        hang.close()
    assert titles_of(Outbox(state / ".ztb")) == [
        f"old {i}" for i in range(10)
    ]  # nothing lost, nothing doubled


def test_two_flushers_racing_never_send_one_alert_twice(tmp_path: Path) -> None:
    server = FakeHook(always=Reply(204, delay=0.05))
    try:
        for run in range(3):
            state = tmp_path / f"s{run}"
            outbox = Outbox(state / ".ztb")
            for i in range(12):
                outbox.enqueue(Webhook(server.url(), "discord", "t"), build_payload(Alert(f"r{run} a{i}")))
            procs = [subprocess.Popen(ztb("notify", "--flush-outbox", "--state-dir", str(state)), env=clean_env(),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]  # fmt: skip
            for p in procs:
                p.wait(timeout=180)
            got = [t for t in server.titles if t.startswith(f"r{run} ")]
            assert sorted(got) == sorted(f"r{run} a{i}" for i in range(12)), got  # each exactly once
            assert Outbox(state / ".ztb").pending() == []
    finally:
        server.close()


def test_corrupt_outbox_lines_are_quarantined_and_good_ones_still_go(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    root = make_tree({"s1": {"reports/gates.json": GATES}})
    box = tmp_path / ".ztb"
    outbox = Outbox(box)
    good = outbox.enqueue(Webhook(hook_server.url(), "discord", "t"), build_payload(Alert("queued good")))
    outbox.merge()
    wrong_type = json.dumps({**good, "id": "abc123", "attempts": "4"}).encode()
    bad = [b"\xff\xfe not utf-8 \xc3\x28", b"{not json", wrong_type, b"[1, 2]"]
    outbox.path.write_bytes(bad[0] + b"\n" + outbox.path.read_bytes() + b"\n".join(bad[1:]) + b"\n")
    for _ in range(2):  # the second run finds a clean outbox: no warning, no duplicate
        r = subprocess.run(
            ztb("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-dir", str(tmp_path),
                "--discord-webhook", hook_server.url()),
            env=clean_env(), capture_output=True, text=True, timeout=120, encoding="utf-8"
        )  # fmt: skip
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert hook_server.titles == ["queued good", "Critical gate failed: s1", "Critical gate failed: s1"]
    quarantine = box / "ztb-outbox-quarantine.jsonl"
    assert quarantine.read_bytes() == b"".join(line + b"\n" for line in bad)
    assert r.stderr == ""  # warned once, on the first run only


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_outbox_path_that_is_a_fifo_or_folder_is_named_and_does_not_hang(
    kind: str, make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    root = make_tree({"s1": {"reports/gates.json": GATES}})
    target = tmp_path / ".ztb" / "ztb-outbox.jsonl"
    target.parent.mkdir()
    os.mkfifo(target) if kind == "fifo" else target.mkdir()
    r = subprocess.run(
        ztb("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-dir", str(tmp_path),
            "--discord-webhook", hook_server.url()),
        env=clean_env(), capture_output=True, text=True, timeout=120, encoding="utf-8"
    )  # fmt: skip
    what = "a FIFO" if kind == "fifo" else "a folder"
    assert r.stderr.count(str(target)) == 1 and what in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 0 and hook_server.titles == ["Critical gate failed: s1"]  # still delivered


def test_400_echoing_the_url_is_a_redacted_dead_letter(
    make_tree: MakeTree, hook_server: FakeHook, tmp_path: Path
) -> None:
    root = make_tree({"s1": {"reports/gates.json": GATES}})
    url = hook_server.url()
    hook_server.script = [Reply(400, f"bad request for {url} (token {TOKEN})".encode())]
    r = subprocess.run(
        ztb("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-dir", str(tmp_path),
            "--discord-webhook", url),
        env=clean_env(), capture_output=True, text=True, timeout=120, encoding="utf-8"
    )  # fmt: skip
    assert r.returncode == 1 and "failed permanently" in r.stdout and "HTTP 400: bad request for" in r.stdout
    assert TOKEN not in r.stdout + r.stderr and len(hook_server.seen) == 1  # not retried
    [dead] = [
        json.loads(x)
        for x in (tmp_path / ".ztb" / "ztb-outbox-dead.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert dead["http_status"] == 400 and TOKEN not in dead["last_error"] and "HTTP 400" in dead["last_error"]
    assert dead["payload"]["embeds"][0]["title"] == "Critical gate failed: s1"
    assert Outbox(tmp_path / ".ztb").pending() == []
    assert stat.S_IMODE((tmp_path / ".ztb" / "ztb-outbox-dead.jsonl").stat().st_mode) == 0o600
    shown = subprocess.run(ztb("notify", "--state-dir", str(tmp_path)), env=clean_env(), capture_output=True,
                           text=True, timeout=120, encoding="utf-8")  # fmt: skip
    assert shown.stdout.splitlines()[1].startswith("1 alert(s) refused for good in ")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_never_followed(status: int, hook_server: FakeHook, tmp_path: Path) -> None:
    elsewhere = FakeHook(host="127.0.0.2")
    try:
        hook_server.script = [Reply(status, None, {"Location": elsewhere.url()})]
        outbox = Outbox(tmp_path)
        outbox.enqueue(Webhook(hook_server.url(), "discord", "t"), build_payload(Alert("moved")))
        [(_, result)] = flush(outbox, sleep=lambda s: None)
    finally:
        elsewhere.close()
    assert elsewhere.seen == [] and len(hook_server.seen) == 1
    assert result.status == "failed-permanently" and result.http_status == status
    assert result.detail == (f"HTTP {status}: redirect to http://127.0.0.2:{elsewhere.server.server_address[1]}"
                             "/api/webhooks/123456/**** not followed (a webhook must answer directly)")  # fmt: skip
    assert json.loads(outbox.dead_path.read_text(encoding="utf-8"))["http_status"] == status


def test_kill_9_around_acceptance_leaves_it_accepted_or_queued(make_tree: MakeTree, tmp_path: Path) -> None:
    root = make_tree({"s1": {"reports/gates.json": GATES}})
    rng = random.Random(os.getpid() + 1)
    for run in range(5):
        server = FakeHook()
        refusals = rng.randint(0, 2)
        server.script = [Reply(500, {"message": "boom"})] * refusals  # then 204: accepted
        state = tmp_path / f"state{run}"
        proc = subprocess.Popen(
            ztb("gates-alert", "--correlation-id", "s1", "--artifacts-dir", str(root), "--state-dir", str(state),
                "--discord-webhook", server.url()),
            env=clean_env(ZTB_WEBHOOK_TIMEOUT_SEC="2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_for(lambda s=server: len(s.seen) > 0)  # type: ignore[misc]
        time.sleep(rng.uniform(0.0, 3.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        try:
            accepted = len(server.seen) > refusals  # the server took it (a 204), whatever the client saw
            queued = titles_of(Outbox(state / ".ztb")) == ["Critical gate failed: s1"]
            assert accepted or queued, (run, len(server.seen))
        finally:
            server.close()


def test_one_id_is_sent_once_per_run_even_if_it_is_in_queue_and_spool(
    hook_server: FakeHook, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path)
    outbox.enqueue(Webhook(hook_server.url(), "discord", "t"), build_payload(Alert("once")))
    [event] = list(outbox.spool.iterdir())
    copy = event.read_bytes()
    assert stat.S_IMODE(event.stat().st_mode) == 0o600  # it holds the webhook URL
    outbox.merge()  # now in the queue file; a crash before the spool file's removal leaves both:
    (outbox.spool / event.name).write_bytes(copy)
    assert titles_of(outbox) == ["once"]
    [(_, result)] = flush(outbox)
    assert result.delivered and hook_server.titles == ["once"] and outbox.pending() == []
