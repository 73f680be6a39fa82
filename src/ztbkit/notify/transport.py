"""One HTTP attempt with a wall-clock deadline, redirects never followed.

``requests`` (and urllib3 below it) only know per-operation timeouts: a read timeout of 10 s is
reset by every byte, so a server that drips its headers one byte every few seconds keeps a request
open for ever. Here every socket an attempt opens is registered, and a watchdog timer shuts them
down when the attempt's total deadline (connect + headers + body) has passed; the blocked read then
fails at once. We keep ``requests`` (connection handling, TLS, proxies from the environment) and add
only the deadline, instead of hand-writing an HTTP client.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()
MAX_BODY = 1 << 20  # bytes of a response body kept (Discord answers a few hundred)


def _register(sock: Any) -> None:
    sockets = getattr(_local, "sockets", None)
    if sockets is not None:
        sockets.append(sock)


class _Conn(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(sock)
        return sock


class _TLSConn(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register(sock)
        return sock


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Conn


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConn


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}


@dataclass(slots=True)
class Answer:
    """What one attempt got: a response, or ``error`` (no complete answer) and whether the deadline hit."""

    response: requests.Response | None = None
    error: BaseException | None = None
    deadline_hit: bool = False


def attempt(
    method: str,
    url: str,
    *,
    json: Any,
    params: dict[str, str] | None,
    deadline: float,
    connect_timeout: float,
) -> Answer:
    """Send once; the whole exchange ends within ``deadline`` seconds or is cut (``deadline_hit``).

    Redirects are never followed: a 3xx comes back as the response. Once the status line and headers
    are in, that is the answer (a 2xx is an acceptance); the body is read within the same deadline
    and kept up to ``MAX_BODY`` bytes, a body cut short or too long is truncated, never an error.
    """
    http = requests.Session()
    adapter = _Adapter(max_retries=0)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    sockets: list[Any] = []
    hit = threading.Event()

    def cut() -> None:
        hit.set()
        for sock in list(sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline), cut)
    timer.daemon = True
    _local.sockets = sockets
    timer.start()
    try:
        timeout = (min(connect_timeout, deadline), max(0.05, deadline))
        try:
            response = http.request(method, url, json=json, params=params, timeout=timeout,
                                    allow_redirects=False, stream=True)  # fmt: skip
        except (requests.RequestException, OSError) as exc:
            return Answer(None, exc, hit.is_set() or isinstance(exc, requests.Timeout))
        if hit.is_set():  # cut while the headers dripped: http.client parsed a partial answer
            response.close()  # (a status line alone); the server never finished saying "accepted"
            return Answer(None, requests.Timeout("headers cut at the deadline"), True)
        # The status line and headers are the answer: a 2xx means the server accepted the alert, even
        # if its body then drips, never ends or is huge (reading it to the end would time the attempt
        # out and send the alert again, or fill the memory). The body, only ever a short JSON or error
        # text for us, is kept up to MAX_BODY bytes within the same deadline; the rest is dropped.
        body = bytearray()
        with contextlib.suppress(requests.RequestException, OSError):
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) >= MAX_BODY:
                    break
        response._content = bytes(body[:MAX_BODY])  # what .content, .text and .json() read
        response.close()
        return Answer(response)
    finally:
        timer.cancel()
        _local.sockets = None
        http.close()
