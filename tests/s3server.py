"""A real S3 server on 127.0.0.1 (moto's server mode, as s3fs's own tests use) and a throttling shim.

The shim is a small HTTP proxy in front of moto: it answers ``503 SlowDown`` (S3's throttling reply)
to the first ``throttle`` object GETs and ``404 NoSuchKey`` to GETs of keys in ``gone``, and forwards
everything else unchanged. It counts what it did so tests can assert the throttling really happened.
"""

from __future__ import annotations

import http.client
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Credentials the tests hand to the backend through its standard environment variables; no output
# may ever contain them.
ACCESS_KEY = "AKIAZTBTESTACCESS0001"
SECRET_KEY = "ztb-test-secret-must-never-print"


class S3Server:
    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """The backend's standard environment: endpoint and credentials (never ztbkit's own)."""
        return {
            "AWS_ENDPOINT_URL": endpoint or self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def stop(self) -> None:
        self._server.stop()


def s3fs_for(endpoint: str) -> Any:
    """A fresh s3fs client for the test's own setup and checks (not ztbkit's)."""
    import s3fs

    return s3fs.S3FileSystem(
        key=ACCESS_KEY, secret=SECRET_KEY, client_kwargs={"endpoint_url": endpoint},
        skip_instance_cache=True,
    )  # fmt: skip


def upload(fs: Any, local: Path, url: str) -> int:
    """Upload every regular file under ``local`` to ``url`` (bucket created); returns the count."""
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    files = [p for p in sorted(local.rglob("*")) if p.is_file() and not p.is_symlink()]
    fs.put(
        [str(p) for p in files],
        [f"{url.removeprefix('s3://')}/{p.relative_to(local).as_posix()}" for p in files],
    )
    return len(files)


class Shim:
    """HTTP proxy on 127.0.0.1 in front of ``upstream`` that throttles and hides objects on request."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.throttle = 0  # answer 503 SlowDown to this many object GETs, then forward
        self.gone: set[str] = set()  # request paths (/bucket/key) answered 404 NoSuchKey
        self.throttled = 0
        self.hidden = 0
        self.requests = 0
        self.object_gets = 0  # object GETs forwarded to the server
        self.lock = threading.Lock()
        shim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, code: str) -> None:
                body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = self.path.split("?", 1)[0]
                is_object_get = self.command == "GET" and path.count("/") >= 2 and "?" not in self.path
                with shim.lock:
                    shim.requests += 1
                    if is_object_get and path in shim.gone:
                        shim.hidden += 1
                        return self._reply(404, "NoSuchKey")
                    if is_object_get and shim.throttle > 0:
                        shim.throttle -= 1
                        shim.throttled += 1
                        return self._reply(503, "SlowDown")
                    shim.object_gets += is_object_get
                conn = http.client.HTTPConnection(shim.upstream, timeout=60)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.endpoint = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
