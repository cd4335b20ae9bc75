"""HTTP to sellers with failures classified (requests, one session per thread)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from autopay_app.agent.errors import NetworkFailure, RateLimited, RpcTimeout, SellerError

MAX_BODY_BYTES = 8 * 1024 * 1024


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

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[requests.Session] = []
        self._env: dict[str, dict[str, Any]] = {}

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
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

    def get(self, url: str, headers: dict[str, str] | None = None) -> Answer:
        """GET ``url``; 2xx and 4xx are answers, the rest raise a classified error."""
        try:
            session = self._session()
            session.trust_env = False  # _settings() applied the environment already
            response = session.get(
                url,
                headers=headers or {},
                timeout=self.timeout,
                allow_redirects=False,
                **{**self._settings(url), "stream": True},
            )
            declared = int(response.headers.get("Content-Length") or 0)
            body = b"" if declared > MAX_BODY_BYTES else response.content
        except requests.Timeout as exc:
            raise RpcTimeout(f"{url} did not answer within {self.timeout} s: {exc}") from exc
        except (requests.ConnectionError, OSError) as exc:
            raise NetworkFailure(f"{url} unreachable: {exc}") from exc
        except requests.RequestException as exc:
            raise NetworkFailure(f"{url}: {exc}") from exc
        if declared > MAX_BODY_BYTES or len(body) > MAX_BODY_BYTES:
            raise SellerError(f"{url} answered more than {MAX_BODY_BYTES} bytes", retryable=False)
        answer = Answer(
            response.status_code,
            dict(response.headers),
            body,
            int(response.elapsed.total_seconds() * 1000),
        )
        if answer.status == 429:
            raise RateLimited(f"{url} answered 429 Too Many Requests")
        if answer.status >= 500:
            error = SellerError(f"{url} answered {answer.status}: {body[:200]!r}")
            # The seller says its facilitator is down (x402 sellers answer 503 then).
            error.facilitator = b"facilitator_unavailable" in body[:2000]
            raise error
        return answer
