"""Plain JSON-RPC over keep-alive connections: the agent's chain reads.

solana-py's client goes through httpx, which costs about three times the CPU and
wall time of a plain urllib3 request per call on loopback (measured: 2.3 ms wall /
0.9 ms CPU against 0.8 / 0.36 for ``getLatestBlockhash`` on the harness), and two
reads are on every paid request (the blockhash, the transfer). A plain ``http``
URL that no proxy setting covers (a local node, the harness) is called over one
keep-alive ``http.client`` connection per thread, which costs about half of
urllib3's pool again (measured on the harness, agent CPU per call:
getLatestBlockhash 0.32 against 0.67 ms, getTransaction base64 0.46 against
0.73 ms); an ``https`` or proxied URL keeps urllib3 (TLS, proxies). The
answer is parsed once, as JSON; failures are classified as the rest of the
agent's RPC failures are (:func:`classify`). A proxy from the
environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) is honoured, as
httpx would.
"""

from __future__ import annotations

import builtins
import http.client
import json
import threading
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, TimeoutError
from urllib3.util.wait import wait_for_read

from autopay_app.agent.errors import AgentError, NetworkFailure, RateLimited, RpcTimeout

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def classify(exc: BaseException) -> AgentError:
    """A urllib3 failure as the agent's error (timeouts apart from the rest; a refused
    connection is no timeout, though urllib3 derives it from one)."""
    if isinstance(exc, NewConnectionError | ConnectionRefusedError):
        return NetworkFailure(f"RPC unreachable: {exc}")
    if isinstance(exc, TimeoutError | builtins.TimeoutError):
        return RpcTimeout(f"RPC timed out: {exc}")
    if isinstance(exc, ProtocolError | HTTPError | OSError | http.client.HTTPException):
        return NetworkFailure(f"RPC unreachable: {exc}")
    return NetworkFailure(f"RPC failed: {exc}")


def _proxy(url: str) -> str | None:
    """The proxy the environment sets for ``url``, if any."""
    scheme = url.split(":", 1)[0].lower()
    host = urllib3.util.parse_url(url).host or ""
    proxy = urllib.request.getproxies().get(scheme)
    return proxy if proxy and not urllib.request.proxy_bypass(host) else None


def _pool(url: str, timeout: float, maxsize: int) -> urllib3.PoolManager:
    options: dict[str, Any] = {
        "maxsize": maxsize,
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": False,  # the agent retries (and records) what is retryable itself
    }
    proxy = _proxy(url)
    if proxy:
        return urllib3.ProxyManager(proxy, **options)
    return urllib3.PoolManager(**options)


class _Pool:
    """urllib3's pool (https, proxies): ``post(body)`` -> (status, data)."""

    def __init__(self, url: str, timeout: float, maxsize: int) -> None:
        self.url = url
        self._http = _pool(url, timeout, maxsize)

    def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            response = self._http.request("POST", self.url, body=body, headers=HEADERS)
        except (HTTPError, OSError) as exc:
            raise classify(exc) from exc
        return response.status, response.data

    def close(self) -> None:
        self._http.clear()


class _Direct:
    """One keep-alive ``http.client`` connection per thread to a plain ``http`` URL: no
    retries (the agent retries and records what is retryable itself); a kept connection
    the server has closed meanwhile is replaced before it is used, as urllib3 does."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "localhost", parts.port or 80
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._local = threading.local()
        #: Every connection, by the thread that uses it (closed when the thread is gone).
        self._open: dict[threading.Thread, http.client.HTTPConnection] = {}
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.conn = conn
            with self._lock:
                for thread in [t for t in self._open if not t.is_alive()]:
                    self._open.pop(thread).close()
                self._open[threading.current_thread()] = conn
        elif conn.sock is not None and wait_for_read(conn.sock, timeout=0.0):
            conn.close()  # an idle kept connection is readable only at EOF: the server closed it
        return conn

    def post(self, body: bytes) -> tuple[int, bytes]:
        conn = self._connection()  # (re)connects on request when it is closed
        try:
            conn.request("POST", self._path, body=body, headers=HEADERS)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise classify(exc) from exc
        if response.will_close:
            conn.close()
        return response.status, data

    def close(self) -> None:
        with self._lock:
            for conn in self._open.values():
                conn.close()


def _transport(url: str, timeout: float, maxsize: int) -> _Pool | _Direct:
    if url.split(":", 1)[0].lower() == "http" and _proxy(url) is None:
        return _Direct(url, timeout)
    return _Pool(url, timeout, maxsize)


class JsonRpc:
    """``call(method, params)`` against one JSON-RPC URL, thread-safe."""

    def __init__(self, url: str, timeout: float = 5.0, maxsize: int = 8) -> None:
        self.url = url
        self._http = _transport(url, timeout, maxsize)

    def call(self, method: str, params: list[Any]) -> Any:
        """The ``result`` of ``method``.

        Raises:
            RpcTimeout: No answer in time.
            RateLimited: HTTP 429.
            NetworkFailure: Unreachable, another HTTP error, not JSON, or a JSON-RPC error.
        """
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        status, data = self._http.post(body.encode())
        if status == 429:
            raise RateLimited("RPC rate limited (HTTP 429)")
        if not 200 <= status < 300:
            raise NetworkFailure(f"RPC answered HTTP {status}")
        try:
            reply = json.loads(data)
        except ValueError as exc:
            raise NetworkFailure(f"RPC answered something that is not JSON: {exc}") from exc
        if not isinstance(reply, dict) or "error" in reply or "result" not in reply:
            raise NetworkFailure(f"RPC error: {reply!r}"[:500])
        return reply["result"]

    def close(self) -> None:
        self._http.close()
