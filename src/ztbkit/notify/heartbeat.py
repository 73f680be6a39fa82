"""The outside heartbeat: one GET to a push-monitor URL (healthchecks.io, Uptime Kuma, self-hosted).

Policy (users depend on it):

* ``ping(url)`` says "alive and well"; ``ping(url, "start")`` a job started; ``ping(url, "fail")`` it
  failed (the healthchecks.io convention: ``<url>/start``, ``<url>/fail``). An Uptime Kuma push URL
  carries its token in the path and answers the same GET.
* One attempt, never retried: the next evaluation pings again, so a retry would only delay it. The
  whole attempt (connect, headers, body) ends within ``timeout`` seconds of wall-clock time (default
  10 s), however slowly the server answers: at the deadline its socket is shut, so no thread keeps
  reading a dripping server (a ``ztb watch`` service pings every minute); redirects are never followed.
* The URL's token is never printed: results name the URL only through
  :func:`ztbkit.notify.webhook.redact`.
* Only the standard library is used (``http.client``): what runs every minute stays cheap.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ztbkit.locale import _
from ztbkit.notify.webhook import redact, scrub

DEFAULT_TIMEOUT = 10.0
SUFFIXES = ("", "start", "fail")


@dataclass(frozen=True, slots=True)
class PingResult:
    ok: bool
    status: int | None
    detail: str  # one line, the URL redacted

    def line(self) -> str:
        return self.detail


def ping_url(url: str, suffix: str = "") -> str:
    """``url`` with ``/start`` or ``/fail`` appended before any query (``?rid=...`` stays a query).

    An Uptime Kuma push URL (``/api/push/<token>?status=up&msg=OK&ping=``) knows no suffixes: there
    ``fail`` sends ``status=down&msg=fail`` and ``start`` an ordinary "up" with ``msg=start``.
    """
    if suffix not in SUFFIXES:
        raise ValueError(f"heartbeat suffix must be one of {SUFFIXES}, got {suffix!r}")
    if not suffix:
        return url
    base, sep, query = url.partition("?")
    if "/api/push/" in base:
        from urllib.parse import parse_qsl, urlencode

        fields = dict(parse_qsl(query, keep_blank_values=True))
        fields.update(status="down" if suffix == "fail" else "up", msg=suffix)
        return f"{base}?{urlencode(fields)}"
    return f"{base.rstrip('/')}/{suffix}{sep}{query}"


def _get(url: str, timeout: float, out: list[PingResult], conns: list[Any]) -> None:
    import http.client

    parts = urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = conn_cls(parts.hostname or "", parts.port, timeout=timeout)
    conns.append(conn)  # ping() shuts its socket at the deadline
    try:
        conn.request("GET", path, headers={"User-Agent": "ztbkit-heartbeat"})
        response = conn.getresponse()
        response.read(4096)
        ok = 200 <= response.status < 300
        out.append(PingResult(ok, response.status, f"HTTP {response.status}"))
    except TimeoutError:
        # The socket's own timeout equals the deadline: whichever fires first, it is "no answer within
        # the timeout" (nothing appended), never a "failed (TimeoutError)" that depends on the load.
        pass
    except (OSError, http.client.HTTPException) as exc:
        out.append(PingResult(False, None, scrub(f"{type(exc).__name__}: {exc}", url)))
    finally:
        conn.close()


def ping(url: str, suffix: str = "", *, timeout: float = DEFAULT_TIMEOUT) -> PingResult:
    """One GET to the heartbeat URL (+ ``/start`` or ``/fail``); never raises for network trouble."""
    target = ping_url(url, suffix)
    if urlsplit(target).scheme not in ("http", "https"):
        return PingResult(False, None, _("heartbeat {url}: not an http(s) URL").format(url=redact(target)))
    out: list[PingResult] = []
    conns: list[Any] = []
    # A thread with a deadline bounds the whole exchange: socket timeouts alone restart with every byte.
    worker = threading.Thread(
        target=_get, args=(target, timeout, out, conns), daemon=True, name="ztb-heartbeat"
    )
    worker.start()
    worker.join(timeout)
    timed_out = worker.is_alive()
    if timed_out:  # a server dripping its answer: cut it, or the thread (and its socket) reads on
        for conn in conns:  # for minutes, one more with every evaluation of a `ztb watch` service
            with contextlib.suppress(OSError, AttributeError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        worker.join(1.0)
    what = _("heartbeat{suffix} to {url}").format(suffix="/" + suffix if suffix else "", url=redact(target))
    if timed_out or not out:  # what the cut thread adds afterwards (a reset) is not the answer
        return PingResult(False, None, _("{what}: no answer within {seconds} s (not retried)").format(
            what=what, seconds=f"{timeout:g}"))  # fmt: skip
    result = out[0]
    # "sent" only for a 2xx answer: anything else (a redirect, a 404, a reset) is "failed".
    verdict = _("{what}: sent ({detail})") if result.ok else _("{what}: failed ({detail})")
    return PingResult(result.ok, result.status, verdict.format(what=what, detail=result.detail))
