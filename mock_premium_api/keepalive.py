"""A small keep-alive HTTP client for the facilitator, in the shape the SDK's client uses.

The SDK's ``HTTPFacilitatorClientSync`` takes the HTTP client it posts with
(``FacilitatorConfig.http_client``) and calls only ``post(url, headers=, json=)``
and ``get(url, headers=)``, reading ``status_code``, ``headers``, ``text`` and
``json()`` of the answer. :class:`KeepAliveClient` is that, on the standard
library's ``http.client``: one persistent connection per serving thread and host,
reused from request to request (checked for a peer that hung up before each
reuse, never re-sent once written). httpx spent about 0.6 ms of CPU more per call
than this on the seller's hot path (one ``/settle`` per paid request), for a
connection pool, cookies, redirects and auth that a facilitator call never needs.

It is used for plain ``http://`` facilitators that no proxy setting covers
(:func:`suits`: the local harness, a facilitator on the LAN); an ``https://`` one,
or one reached through a proxy, keeps the SDK's own httpx client (TLS, proxies and
redirects as httpx does them), where the network, not the client, is the cost.

Failures are httpx's exception types (what the seller's facilitator guard maps to
503): a timeout is ``httpx.ReadTimeout`` or ``httpx.ConnectTimeout``, anything
else on the way ``httpx.ConnectError`` or ``httpx.RemoteProtocolError``.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import httpx


def suits(url: str) -> bool:
    """Whether :class:`KeepAliveClient` can reach ``url``: plain http, and no proxy for it."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    proxies = urllib.request.getproxies()
    if not (proxies.get("http") or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname))


class Answer:
    """A complete HTTP answer (status, headers, body), read in full."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = status
        self.headers = httpx.Headers(headers)
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class KeepAliveClient:
    """Thread-safe: each thread keeps its own connection per (scheme, host, port)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pools: list[dict[tuple[str, str, int | None], http.client.HTTPConnection]] = []

    def post(self, url: str, headers: dict[str, str] | None = None, json: Any = None) -> Answer:
        """POST ``json`` (encoded as JSON) to ``url``."""
        body = _dumps(json)
        sent = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", url, sent, body)

    def get(self, url: str, headers: dict[str, str] | None = None) -> Answer:
        """GET ``url``."""
        return self.request("GET", url, dict(headers or {}), None)

    def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> Answer:
        """One request on this thread's connection to ``url``'s host (a fresh one if
        the peer closed it while idle); the answer is read in full."""
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn = self._connection(parts.scheme, parts.hostname or "", parts.port)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            answer = Answer(response.status, response.getheaders(), response.read())
        except (OSError, http.client.HTTPException) as error:
            connecting = conn.sock is None
            self._drop(conn)
            raise _as_httpx(error, connecting) from error
        except BaseException:
            self._drop(conn)
            raise
        if response.will_close:
            self._drop(conn)
        return answer

    def close(self) -> None:
        """Close every thread's connections (at the end: one in use would fail)."""
        with self._lock:
            pools = list(self._pools)
        for pool in pools:
            for conn in list(pool.values()):
                conn.close()
            pool.clear()

    def _pool(self) -> dict[tuple[str, str, int | None], http.client.HTTPConnection]:
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
            with self._lock:
                self._pools.append(pool)
        return pool

    def _connection(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        pool = self._pool()
        key = (scheme, host, port)
        conn = pool.get(key)
        if conn is not None and conn.sock is not None and _hung_up(conn.sock):
            self._drop(conn)
            conn = None
        if conn is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = pool[key] = cls(host, port, timeout=self.timeout)
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        pool = self._pool()
        for key, known in list(pool.items()):
            if known is conn:
                del pool[key]
        conn.close()


def _hung_up(sock: socket.socket) -> bool:
    """An idle keep-alive connection is readable only when the peer closed it (or broke
    the protocol): either way it cannot carry another request."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _as_httpx(error: OSError | http.client.HTTPException, connecting: bool) -> httpx.HTTPError:
    """The httpx exception a failed request would have raised."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, TimeoutError | socket.timeout):
        return httpx.ConnectTimeout(text) if connecting else httpx.ReadTimeout(text)
    if connecting or isinstance(error, ConnectionRefusedError | socket.gaierror):
        return httpx.ConnectError(text)
    return httpx.RemoteProtocolError(text)
