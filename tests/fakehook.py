"""A local HTTP server (127.0.0.1, a thread) that behaves like Discord and Slack webhooks."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ztbkit.notify.discord import check_limits

TOKEN = "s3cr3t-t0ken-do-not-print"


@dataclass
class Reply:
    status: int = 204
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class FakeHook:
    """Replies come from ``script`` in order, then the default for the service. Discord's size limits
    are enforced (400 like Discord) and ``?wait=true`` / PATCH behave like Discord's message API."""

    def __init__(self, host: str = "127.0.0.1", always: Reply | None = None) -> None:
        self.host, self.always = host, always
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.titles: list[str] = []  # Discord embed titles in arrival order (also from other processes)
        self.messages: dict[str, Any] = {}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                if isinstance(body, dict) and isinstance(body.get("embeds"), list) and body["embeds"]:
                    hook.titles.append(str(body["embeds"][0].get("title")))
                parts = urlsplit(self.path)
                hook.seen.append(Seen(self.command, parts.path, parse_qs(parts.query), body))
                reply = (
                    hook.script.pop(0)
                    if hook.script
                    else hook.always or hook.default(self.command, parts.path, parts.query, body)
                )
                if reply.drop:
                    self.close_connection = True
                    return
                if reply.delay:
                    time.sleep(reply.delay)  # the *server* is slow; the client's timeout is under test
                data = (
                    b""
                    if reply.body is None
                    else (reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode())
                )
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    if data and not isinstance(reply.body, bytes):
                        self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = do_PATCH = do_GET = _handle

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def default(self, method: str, path: str, query: str, body: Any) -> Reply:
        if "/slack/" in path:
            return Reply(200, b"ok")
        if body is not None and (errors := check_limits(body)):
            return Reply(400, {"code": 50035, "message": "Invalid Form Body", "errors": errors})
        if method == "PATCH":
            mid = path.rsplit("/", 1)[-1]
            if mid not in self.messages:
                return Reply(404, {"message": "Unknown Message", "code": 10008})
            self.messages[mid] = body
            return Reply(200, {"id": mid})
        if "wait=true" in query:
            mid = str(uuid.uuid4().int)[:18]
            self.messages[mid] = body
            return Reply(200, {"id": mid, "channel_id": "1"})
        return Reply(204)

    def url(self, service: str = "discord") -> str:
        port = self.server.server_address[1]
        kind = "api/webhooks/123456" if service == "discord" else "slack/services/T0/B0"
        return f"http://{self.host}:{port}/{kind}/{TOKEN}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawHook:
    """A misbehaving server on 127.0.0.1 speaking raw TCP: ``drip`` sends a valid response one byte
    every ``interval`` seconds; ``hang`` reads the request and never answers; ``dripbody`` answers 200
    at once and then drips a body that never ends; ``bigbody`` answers 200 with ``size`` bytes of body.
    ``hits`` counts requests."""

    def __init__(self, mode: str, interval: float = 1.0, size: int = 0) -> None:
        import socket

        self.mode, self.interval, self.hits, self.size = mode, interval, 0, size
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.closed = threading.Event()
        self.conns: list[Any] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: Any) -> None:
        try:
            conn.recv(65536)
            self.hits += 1
            if self.mode == "drip":
                for byte in b"HTTP/1.1 204 No Content\r\nX-Slow: " + b"x" * 200 + b"\r\n\r\n":
                    if self.closed.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
            elif self.mode == "dripbody":  # a 200 at once, then a body that never ends
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                )
                while not self.closed.wait(self.interval):
                    conn.sendall(b" ")
            elif self.mode == "bigbody":  # a 200 with a body of ``size`` bytes, as fast as it goes
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % self.size)
                chunk, sent = b"x" * (1 << 20), 0
                while sent < self.size and not self.closed.is_set():
                    conn.sendall(chunk)
                    sent += len(chunk)
            else:
                self.closed.wait()
        except OSError:
            pass

    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/webhooks/123456/{TOKEN}"

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()
