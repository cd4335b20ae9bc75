"""HTTP to sellers with failures classified (urllib3 pools, one per origin).

Every call is bounded three ways: each read by ``timeout``, the whole call by
``deadline`` (:mod:`.deadline`: however slowly a seller trickles its headers or
body), and the body by ``max_body`` bytes, counted as it streams in whatever its
framing (Content-Length, chunked, or ended by closing the connection): past the
cap the connection is closed and nothing more is read. Inside
:meth:`Http.fetch_deadline` (one paid request) every call also ends by that
deadline, and a call begun after it fails at once, not to be retried.
"""

from __future__ import annotations

import base64
import http.client
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.utils import (
    DEFAULT_CA_BUNDLE_PATH,
    get_netrc_auth,
    prepend_scheme_if_needed,
    select_proxy,
)
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, ReadTimeoutError

from autopay_app.agent.deadline import POOLS, Watchdog
from autopay_app.agent.errors import (
    NetworkFailure,
    RateLimited,
    ResponseTooLarge,
    SellerError,
    SellerTimeout,
)

MAX_BODY_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
#: Kept-alive connections per origin (the agent's fetch threads and its I/O pool).
POOL_SIZE = 32
DEFAULT_HEADERS = {
    "User-Agent": "autopay-agent",
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
}
#: What a call can raise on the way (the status of an answer is not an error here).
TRANSPORT_ERRORS = (HTTPError, OSError, http.client.HTTPException, requests.RequestException)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: int

    def json_or_text(self) -> Any:
        import json

        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {"text": self.body.decode("utf-8", "replace")[:100_000]}


class Http:
    """GETs to sellers over urllib3's connection pools, one per origin, shared by threads.

    The environment's proxy, CA bundle and netrc settings are read once per origin,
    the way requests reads them (``*_proxy``/``no_proxy``, ``REQUESTS_CA_BUNDLE``/
    ``CURL_CA_BUNDLE``, ``~/.netrc``); each call then goes straight to the origin's pool
    (requests' per-call session machinery cost the agent about half of each GET's CPU).
    """

    def __init__(
        self, timeout: float, deadline: float | None = None, max_body: int = MAX_BODY_BYTES
    ) -> None:
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else 3 * timeout
        self.max_body = max_body
        self._local = threading.local()
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}

    def _route(self, url: str) -> _Route:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        route = self._routes.get(origin)
        if route is None:
            with self._lock:
                route = self._routes.get(origin) or _Route.of(origin)
                self._routes[origin] = route
        return route

    def close(self) -> None:
        """Close every origin's connections."""
        with self._lock:
            routes, self._routes = list(self._routes.values()), {}
        for route in routes:
            route.manager.clear()

    @contextmanager
    def fetch_deadline(self, seconds: float) -> Iterator[None]:
        """Calls made by this thread inside the block end within ``seconds`` in all."""
        outer = getattr(self._local, "fetch_ends", None)
        ends = time.monotonic() + seconds
        self._local.fetch_ends = ends if outer is None else min(outer, ends)
        try:
            yield
        finally:
            self._local.fetch_ends = outer

    def _budget(self, url: str) -> tuple[float, bool]:
        """Seconds this call may take, and whether the fetch's deadline is what bounds it."""
        ends = getattr(self._local, "fetch_ends", None)
        left = self.deadline if ends is None else ends - time.monotonic()
        if left <= 0:
            raise SellerTimeout(f"{url}: the fetch's deadline passed", retryable=False)
        return min(self.deadline, left), left < self.deadline

    def get(self, url: str, headers: dict[str, str] | None = None) -> Answer:
        """GET ``url``; 2xx and 4xx are answers, the rest raise a classified error."""
        budget, fetch_bound = self._budget(url)
        started = time.monotonic()
        with Watchdog(budget) as dog:
            try:
                status, response_headers, body = self._exchange(url, headers, budget)
            except TRANSPORT_ERRORS as exc:
                if dog.expired:
                    raise self._late(url, budget, fetch_bound) from exc
                raise _classified(url, exc, self.timeout) from exc
            if dog.expired:  # a shut socket also ends a close-delimited body early
                raise self._late(url, budget, fetch_bound)
        answer = Answer(status, response_headers, body, int((time.monotonic() - started) * 1000))
        if answer.status == 429:
            raise RateLimited(f"{url} answered 429 Too Many Requests")
        if answer.status >= 500:
            error = SellerError(f"{url} answered {answer.status}: {body[:200]!r}")
            # The seller says its facilitator is down (x402 sellers answer 503 then).
            error.facilitator = b"facilitator_unavailable" in body[:2000]
            raise error
        return answer

    @staticmethod
    def _late(url: str, budget: float, fetch_bound: bool) -> SellerTimeout:
        which = "the fetch's deadline" if fetch_bound else f"its {budget:g} s deadline"
        return SellerTimeout(f"{url} did not answer within {which}", retryable=not fetch_bound)

    def _exchange(
        self, url: str, headers: dict[str, str] | None, budget: float
    ) -> tuple[int, dict[str, str], bytes]:
        route = self._route(url)
        sent = dict(DEFAULT_HEADERS)
        if route.auth and not any(k.lower() == "authorization" for k in headers or {}):
            sent["Authorization"] = route.auth
        sent.update(headers or {})
        wait = min(self.timeout, budget)
        response = route.manager.urlopen(
            "GET",
            url,
            headers=sent,
            timeout=urllib3.Timeout(connect=wait, read=wait),
            redirect=False,
            retries=False,
            preload_content=False,
        )
        try:
            body = self._read_capped(url, response)
        except BaseException:
            response.close()  # never handed out again with unread bytes in it
            raise
        response.release_conn()
        return response.status, dict(response.headers), body

    def _read_capped(self, url: str, response: urllib3.BaseHTTPResponse) -> bytes:
        too_large = ResponseTooLarge(f"{url} answered more than {self.max_body} bytes")
        try:
            declared = int(response.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_body:
            raise too_large
        chunks, size = [], 0
        for chunk in response.stream(CHUNK_BYTES, decode_content=True):
            size += len(chunk)
            if size > self.max_body:
                raise too_large  # the connection is closed unread
            chunks.append(chunk)
        return b"".join(chunks)


@dataclass(frozen=True)
class _Route:
    """How calls to one origin go: its pool manager (direct or through a proxy) and the
    netrc credentials for it, from the environment as requests reads it."""

    manager: urllib3.PoolManager
    auth: str | None

    @classmethod
    def of(cls, origin: str) -> _Route:
        env = requests.Session()
        try:
            settings = env.merge_environment_settings(origin + "/", {}, None, None, None)
        finally:
            env.close()
        verify = settings.get("verify", True)
        tls: dict[str, Any] = {"cert_reqs": "CERT_NONE" if verify is False else "CERT_REQUIRED"}
        if verify is True:
            tls["ca_certs"] = DEFAULT_CA_BUNDLE_PATH
        elif isinstance(verify, str):
            tls["ca_cert_dir" if os.path.isdir(verify) else "ca_certs"] = verify
        proxy = select_proxy(origin + "/", settings.get("proxies") or {})
        netrc = get_netrc_auth(origin + "/")
        auth = _basic(*netrc) if netrc else None
        return cls(_manager(proxy, tls), auth)


def _manager(proxy: str | None, tls: dict[str, Any]) -> urllib3.PoolManager:
    """Pools whose connections report their sockets to the call's :class:`Watchdog`
    (a SOCKS proxy keeps its own connection classes: bounded per read only)."""
    pools = {"num_pools": 8, "maxsize": POOL_SIZE, "block": False, **tls}
    manager: urllib3.PoolManager
    if proxy and proxy.lower().startswith("socks"):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError as exc:  # PySocks is not installed
            raise NetworkFailure(f"a SOCKS proxy needs PySocks: {exc}") from exc
        return SOCKSProxyManager(proxy, **pools)  # type: ignore[no-any-return]
    if proxy:
        manager = urllib3.ProxyManager(prepend_scheme_if_needed(proxy, "http"), **pools)
    else:
        manager = urllib3.PoolManager(**pools)
    manager.pool_classes_by_scheme = dict(POOLS)
    return manager


def _basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode("latin-1", "replace"))
    return "Basic " + token.decode("ascii")


def _classified(url: str, exc: BaseException, timeout: float) -> Exception:
    # A refused or unresolvable connection is one of urllib3's "timeout" classes; a read
    # timed out while a body streams in comes wrapped (a ProtocolError's argument).
    refused = isinstance(exc, NewConnectionError)
    timed_out = not refused and (
        isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError | requests.Timeout)
        or any(isinstance(arg, ReadTimeoutError | TimeoutError) for arg in exc.args)
    )
    if timed_out:
        return SellerTimeout(f"{url} did not answer within {timeout} s: {exc}")
    if refused or isinstance(exc, OSError | ProtocolError | requests.ConnectionError):
        return NetworkFailure(f"{url} unreachable: {exc}")
    return NetworkFailure(f"{url}: {exc}")
