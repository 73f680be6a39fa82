"""A local HTTP server (127.0.0.1, a thread) that behaves like Discord and Slack webhooks."""

from __future__ import annotations

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


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class FakeHook:
    """Replies come from ``script`` in order, then the default for the service. Discord's size limits
    are enforced (400 like Discord) and ``?wait=true`` / PATCH behave like Discord's message API."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.messages: dict[str, Any] = {}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                hook.seen.append(Seen(self.command, parts.path, parse_qs(parts.query), body))
                reply = (
                    hook.script.pop(0)
                    if hook.script
                    else hook.default(self.command, parts.path, parts.query, body)
                )
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
        return f"http://127.0.0.1:{port}/{kind}/{TOKEN}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
