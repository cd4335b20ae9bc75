"""HTTP to sellers with failures classified (requests, one session per thread).

Every call is bounded three ways: each read by ``timeout``, the whole call by
``deadline`` (:mod:`.deadline`: however slowly a seller trickles its headers or
body), and the body by ``max_body`` bytes, counted as it streams in whatever its
framing (Content-Length, chunked, or ended by closing the connection): past the
cap the connection is closed and nothing more is read. Inside
:meth:`Http.fetch_deadline` (one paid request) every call also ends by that
deadline, and a call begun after it fails at once, not to be retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError

from autopay_app.agent.deadline import DeadlineAdapter, Watchdog
from autopay_app.agent.errors import (
    NetworkFailure,
    RateLimited,
    ResponseTooLarge,
    SellerError,
    SellerTimeout,
)

MAX_BODY_BYTES = 8 * 1024 * 1024
CHUNK_BYTES = 64 * 1024


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
    """GETs to sellers. The environment's proxy, CA bundle and netrc settings are read
    once per origin (requests re-reads the whole environment on every call otherwise)."""

    def __init__(
        self, timeout: float, deadline: float | None = None, max_body: int = MAX_BODY_BYTES
    ) -> None:
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else 3 * timeout
        self.max_body = max_body
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[requests.Session] = []
        self._env: dict[str, dict[str, Any]] = {}

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.mount("http://", DeadlineAdapter())
            session.mount("https://", DeadlineAdapter())
            with self._lock:
                self._all.append(session)
        return session

    def _settings(self, url: str) -> dict[str, Any]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        known = self._env.get(origin)
        if known is None:
            env = requests.Session()
            known = dict(env.merge_environment_settings(origin + "/", {}, None, None, None))
            known["auth"] = requests.utils.get_netrc_auth(origin + "/")
            env.close()
            self._env[origin] = known
        return known

    def close(self) -> None:
        """Close every thread's connection pool."""
        with self._lock:
            for session in self._all:
                session.close()
            self._all.clear()
        self._local = threading.local()

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
            except (requests.RequestException, OSError) as exc:
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
        session = self._session()
        session.trust_env = False  # _settings() applied the environment already
        response = session.get(
            url,
            headers=headers or {},
            timeout=min(self.timeout, budget),
            allow_redirects=False,
            **{**self._settings(url), "stream": True},
        )
        with response:
            return response.status_code, dict(response.headers), self._read_capped(url, response)

    def _read_capped(self, url: str, response: requests.Response) -> bytes:
        too_large = ResponseTooLarge(f"{url} answered more than {self.max_body} bytes")
        try:
            declared = int(response.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_body:
            raise too_large
        chunks, size = [], 0
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if size > self.max_body:
                raise too_large  # leaving ``with response`` closes the connection unread
            chunks.append(chunk)
        return b"".join(chunks)


def _classified(url: str, exc: BaseException, timeout: float) -> Exception:
    # requests wraps a read timeout met while streaming the body in a ConnectionError.
    timed_out = isinstance(exc, requests.Timeout | TimeoutError) or any(
        isinstance(arg, ReadTimeoutError | TimeoutError) for arg in exc.args
    )
    if timed_out:
        return SellerTimeout(f"{url} did not answer within {timeout} s: {exc}")
    if isinstance(exc, requests.ConnectionError | OSError):
        return NetworkFailure(f"{url} unreachable: {exc}")
    return NetworkFailure(f"{url}: {exc}")
