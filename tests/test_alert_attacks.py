"""An outside tester's attacks on README's "Alerts that are never lost" promises, each through the
documented commands (``/bin/sh -c`` with a clean environment) against a real misbehaving server on
127.0.0.1: a 2xx whose body never ends or is huge, error pages quoting the webhook path, absurd
timeouts in the environment, processes racing on one state dir."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeTree
from fakehook import TOKEN, FakeHook, RawHook, Reply

from ztbkit.notify.dispatch import flush

GATES = {"gates": [{"name": "memory_rss", "status": "fail", "error": "RSS 2.6GB"}]}


def clean_env(**extra: str) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"),
           "LANG": "C.UTF-8"}  # fmt: skip
    env.update(extra)
    return env


def sh(command: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The documented command, pasted as-is into /bin/sh -c."""
    return subprocess.run(
        ["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=timeout, encoding="utf-8"
    )


def gates_alert(root: Path, state: Path, url: str) -> str:
    return (f"ztb gates-alert --correlation-id s1 --artifacts-dir {shlex.quote(str(root))} "
            f"--state-dir {shlex.quote(str(state))} --discord-webhook {shlex.quote(url)}")  # fmt: skip


def waiting(state: Path) -> str:
    return sh(f"ztb notify --state-dir {shlex.quote(str(state))}", clean_env()).stdout


def token_pieces(text: str) -> list[str]:
    """Every 6-character piece of the token that occurs in ``text`` (a cut token is still a leak)."""
    return sorted({TOKEN[i : i + 6] for i in range(len(TOKEN) - 5) if TOKEN[i : i + 6] in text})


@pytest.fixture
def root(make_tree: MakeTree) -> Path:
    return make_tree({"s1": {"reports/gates.json": GATES}})


@pytest.fixture
def dripbody() -> Iterator[RawHook]:
    server = RawHook("dripbody", interval=0.3)
    yield server
    server.close()


def test_a_2xx_whose_body_never_ends_is_delivered_once(root: Path, dripbody: RawHook, tmp_path: Path) -> None:
    # The server said 200: it accepted the alert. Waiting for the end of a body that never comes
    # must not turn that into a timeout, a retry, and the same alert posted again every run.
    state = tmp_path / "state"
    done = sh(gates_alert(root, state, dripbody.url()), clean_env(ZTB_WEBHOOK_TIMEOUT_SEC="2"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "delivered to discord" in done.stdout
    assert dripbody.hits == 1
    assert waiting(state).startswith("0 alert(s) waiting")
    again = sh(f"ztb notify --flush-outbox --state-dir {shlex.quote(str(state))}", clean_env())
    assert again.returncode == 0 and dripbody.hits == 1, again.stdout + again.stderr


def test_a_2xx_with_a_huge_body_does_not_fill_the_memory(root: Path, tmp_path: Path) -> None:
    big = RawHook("bigbody", size=384 << 20)  # 384 MiB, sent as fast as 127.0.0.1 goes
    peak_kib = 0
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", "exec " + gates_alert(root, tmp_path / "state", big.url())],
                                env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        # The peak of ztb's own memory: VmHWM of the process image after exec. (wait4's ru_maxrss would
        # also count the high-water mark of the forked copy of this pytest process, which Linux carries
        # across exec: a test that ran earlier in the same session could make it look huge.)
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                text = status.read_text(encoding="utf-8")
            except OSError:
                break
            if not text.startswith("Name:\tsh\n") and (m := re.search(r"VmHWM:\s+(\d+) kB", text)):
                peak_kib = int(m.group(1))  # monotonic for one process image: the last read is the peak
            time.sleep(0.02)
        out_b, err_b = proc.communicate()
        out = (out_b + err_b).decode()
    finally:
        big.close()
    assert proc.returncode == 0 and big.hits == 1, out
    # ztb itself needs well under 150 MiB; the body alone is 384 MiB.
    assert 0 < peak_kib < 200 * 1024, f"peak RSS {peak_kib // 1024} MiB"


def test_an_error_page_quoting_the_webhook_path_late_never_shows_part_of_the_token(
    root: Path, tmp_path: Path
) -> None:
    # A proxy's error page that names the request path near its end: the message is cut to a readable
    # length, and the cut must not leave a prefix of the token behind for the scrubber to miss.
    for status in (400, 502):
        for pad in range(130, 162, 4):  # the token straddles character 200 of the page
            page = ("p" * pad + " upstream refused /api/webhooks/123456/" + TOKEN).encode()
            server = FakeHook(always=Reply(status, page))
            state = tmp_path / f"state-{status}-{pad}"
            try:
                done = sh(gates_alert(root, state, server.url()),
                          clean_env(ZTB_WEBHOOK_TIMEOUT_SEC="2", ZTB_DELIVERY_BUDGET_SEC="1"))  # fmt: skip
            finally:
                server.close()
            assert done.returncode == 1, done.stdout + done.stderr
            assert "Traceback" not in done.stderr
            printed = done.stdout + done.stderr
            assert token_pieces(printed) == [], (pad, printed)
            for name in ("ztb-outbox.jsonl", "ztb-outbox-dead.jsonl"):
                path = state / ".ztb" / name
                for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
                    assert token_pieces(json.loads(line)["last_error"]) == [], (pad, line)


@pytest.mark.parametrize("value", ["1e308", "1e30", "9e18"])
def test_absurdly_long_time_limits_are_refused_in_one_line(root: Path, hook_server: FakeHook, tmp_path: Path,
                                                           value: str) -> None:  # fmt: skip
    env = clean_env(ZTB_WEBHOOK_TIMEOUT_SEC=value, ZTB_DELIVERY_BUDGET_SEC=value)
    done = sh(gates_alert(root, tmp_path / "state", hook_server.url()), env)
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ZTB_WEBHOOK_TIMEOUT_SEC" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["gates-alert", "notify", "notify --flush-outbox"])
def test_a_folder_where_the_outbox_lock_belongs_is_a_warning_not_a_traceback(
    root: Path, hook_server: FakeHook, tmp_path: Path, command: str
) -> None:
    state = tmp_path / "state"
    (state / ".ztb" / "ztb-outbox.jsonl.lock").mkdir(parents=True)
    if command == "gates-alert":
        line = gates_alert(root, state, hook_server.url())
    else:
        line = f"ztb {command} --state-dir {shlex.quote(str(state))}"
    done = sh(line, clean_env())
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ztb-outbox.jsonl.lock" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    if command == "gates-alert":
        assert hook_server.titles == ["Critical gate failed: s1"]
        assert waiting(state).startswith("0 alert(s) waiting")


def test_a_merge_by_another_process_while_listing_never_brings_a_delivered_alert_back(
    hook_server: FakeHook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Process A delivered X and spooled its outcome. Process B lists the queue (to pick what to send)
    # while process C (`ztb notify`, which folds the spool) runs between B's two reads. Whatever the
    # interleaving, B must not see X as waiting: it would post it a second time outside any kill.
    from ztbkit.notify import Outbox
    from ztbkit.notify.webhook import resolve_webhook

    hook = resolve_webhook(discord_webhook=hook_server.url())
    assert hook is not None
    box = tmp_path / ".ztb"  # where `ztb ... --state-dir tmp_path` keeps it
    a = Outbox(box)
    x = a.enqueue(hook, {"content": "X"})
    assert a.merge()  # X is in ztb-outbox.jsonl now
    a.record(x, "delivered", 1, "")  # its outcome is in the spool, not yet folded

    b = Outbox(box)
    first: list[str] = []

    def merge_by_another_process(name: str, read: Callable[[], Any]) -> Callable[[], Any]:
        def wrapped() -> Any:
            result = read()
            if not first:
                first.append(name)
                c = sh(f"ztb notify --state-dir {shlex.quote(str(tmp_path))}", clean_env())
                assert c.returncode == 0, c.stdout + c.stderr
                assert not list((box / "ztb-outbox.spool").glob("*.json")), "C did not fold the spool"
            return result

        return wrapped

    monkeypatch.setattr(b, "_main", merge_by_another_process("queue", b._main))
    monkeypatch.setattr(b, "_events", merge_by_another_process("spool", b._events))
    assert [e["id"] for e in b.pending()] == [], (
        f"delivered alert listed again (C ran after the {first[0]} read)"
    )
    assert flush(b) == [] and hook_server.seen == []


@pytest.mark.parametrize(
    "url",
    [
        f"http://[::1/api/webhooks/123456/{TOKEN}",  # an IPv6 literal missing its "]"
        f"http://127.0.0.1\\api\\webhooks\\123456\\{TOKEN}",  # Windows-style separators: all "host"
        f"http://127.0.0.1:99999/api/webhooks/123456/{TOKEN}",  # no such port
        f"http://127.0.0.1:-1/api/webhooks/123456/{TOKEN}",
        f"http://{TOKEN}:x:y@/api/webhooks/123456/x",
    ],
)
def test_a_malformed_webhook_url_is_refused_in_one_line_without_the_token(
    root: Path, tmp_path: Path, url: str
) -> None:
    done = sh(gates_alert(root, tmp_path / "state", url), clean_env())
    printed = done.stdout + done.stderr
    assert "Traceback" not in printed and token_pieces(printed) == [], printed
    assert done.returncode == 2, printed
    assert "--discord-webhook" in done.stderr and len(done.stderr.strip().splitlines()) == 1, printed


def test_ipv6_webhooks_print_with_brackets(hook_server: FakeHook) -> None:
    from ztbkit.notify.webhook import redact

    assert (
        redact(f"http://[::1]:8080/api/webhooks/123456/{TOKEN}")
        == "http://[::1]:8080/api/webhooks/123456/****"
    )
    assert redact(f"http://[fe80::1%25eth0]/api/webhooks/1/{TOKEN}").startswith("http://[fe80::1%")


@pytest.mark.parametrize("flusher", ["notify --flush-outbox", "gates-alert"])
def test_a_queued_status_post_sent_by_another_command_is_the_message_later_edits_update(
    root: Path, tmp_path: Path, flusher: str
) -> None:
    # `live-status --edit` fails (500): its first post waits in the outbox. Another command sends it
    # once the server is back. The next `--edit` must update *that* message, not post a second one
    # that leaves the first stale in the channel for ever.
    server = FakeHook(always=Reply(500, {"message": "down"}))
    try:
        state = tmp_path / "state"
        env = clean_env(
            ZTB_DISCORD_WEBHOOK=server.url(), ZTB_WEBHOOK_TIMEOUT_SEC="2", ZTB_DELIVERY_BUDGET_SEC="1"
        )
        edit = f"ztb live-status --state-dir {shlex.quote(str(state))} --edit"
        failed = sh(edit, env)
        assert failed.returncode == 1 and waiting(state).startswith("1 alert(s) waiting"), failed.stdout
        before = len(server.seen)
        server.always = None  # back: posts with ?wait=true get an id, PATCH edits a known message
        if flusher == "gates-alert":
            other = sh(gates_alert(root, state, server.url()), clean_env())
        else:
            other = sh(f"ztb {flusher} --state-dir {shlex.quote(str(state))}", clean_env())
        assert other.returncode == 0, other.stdout + other.stderr
        posted = [s for s in server.seen[before:] if s.method == "POST" and s.query.get("wait") == ["true"]]
        assert len(posted) == 1 and len(server.messages) == 1
        (first_id,) = server.messages
        again = sh(edit, clean_env(ZTB_DISCORD_WEBHOOK=server.url()))
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"edited status message {first_id}" in again.stdout
        assert list(server.messages) == [first_id], "a second status message was posted"
        assert server.seen[-1].method == "PATCH" and server.seen[-1].path.endswith(f"/messages/{first_id}")
    finally:
        server.close()


@pytest.mark.parametrize("broken", ["stdout", "stderr", "both"])
def test_a_broken_output_pipe_never_loses_the_alert(
    root: Path, hook_server: FakeHook, tmp_path: Path, broken: str
) -> None:
    # `ztb gates-alert ... | logger` where the reader died: writing the FAIL line raises EPIPE before
    # the alert is even queued. The alert must still go out (or at least be queued).
    state = tmp_path / "state"
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: every write gets EPIPE
    out = write_end if broken in ("stdout", "both") else subprocess.DEVNULL
    err = write_end if broken in ("stderr", "both") else subprocess.DEVNULL
    try:
        done = subprocess.run(["/bin/sh", "-c", gates_alert(root, state, hook_server.url())], env=clean_env(),
                              stdout=out, stderr=err, timeout=240)  # fmt: skip
    finally:
        os.close(write_end)
    assert hook_server.titles == ["Critical gate failed: s1"], (done.returncode, hook_server.titles)
    assert waiting(state).startswith("0 alert(s) waiting")
    assert done.returncode == 0
