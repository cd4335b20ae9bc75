"""Slowing down password and token guessing without locking anyone out.

Failures are counted per client address *and* account (``login:admin``,
``bearer:api``) for :data:`WINDOW_S`. The first :data:`FREE_FAILURES` cost
nothing; each one after them closes that key for a delay that doubles (5 s,
10 s, 20 s ... at most :data:`MAX_DELAY_S`). While a key is closed every attempt
is answered 429 with ``Retry-After`` *before* the secret is checked, so a
guesser learns nothing; once the delay is over the right secret gets in at
once and clears the count. Others (another address, another account) are never
slowed by it. The counts live in the rate limiter's storage
(AUTOPAY_RATELIMIT_STORAGE_URL), so processes that share it share them; if that
storage cannot be reached, this process counts in memory meanwhile.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from flask_limiter.util import get_remote_address
from limits.storage import MemoryStorage, Storage
from werkzeug.exceptions import TooManyRequests

FREE_FAILURES = 10
WINDOW_S = 15 * 60
FIRST_DELAY_S = 5
MAX_DELAY_S = 60
log = logging.getLogger(__name__)


class SlowDown(TooManyRequests):
    """429 with Retry-After: too many failures from this address for this account."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed attempts: try again in {seconds} s", retry_after=seconds)
        self.retry_after = seconds


class Throttle:
    """The failure count and delay of one (client address, account) pair."""

    def __init__(self, storage: Storage | _Fallback, account: str, address: str) -> None:
        self._storage = storage
        key = f"autopay-throttle/{account}/{address}"
        self._failures, self._closed = key + "/failures", key + "/closed"

    def check(self) -> None:
        """Raise :class:`SlowDown` while the key is closed."""
        if self._storage.get(self._closed) > 0:
            left = self._storage.get_expiry(self._closed) - time.time()
            if left > 0:
                raise SlowDown(max(1, math.ceil(left)))

    def failed(self) -> None:
        """Count a failure; past the free ones, close the key for a doubling delay."""
        failures = self._storage.incr(self._failures, WINDOW_S)
        if failures >= FREE_FAILURES:
            delay = min(FIRST_DELAY_S * 2 ** (failures - FREE_FAILURES), MAX_DELAY_S)
            self._storage.clear(self._closed)
            self._storage.incr(self._closed, delay)

    def succeeded(self) -> None:
        """The right secret: forget the failures (a read only, when there were none)."""
        if self._storage.get(self._failures):
            self._storage.clear(self._failures)
            self._storage.clear(self._closed)


class _Fallback:
    """The limiter's storage; this process's memory while that cannot be reached."""

    def __init__(self, primary: Storage, spare: Storage) -> None:
        self._primary, self._spare = primary, spare

    def _either(self, call: Callable[[Storage], Any]) -> Any:
        try:
            return call(self._primary)
        except Exception as exc:  # each storage's client raises its own errors
            log.warning("rate-limit storage unreachable, counting in memory: %s", exc)
            return call(self._spare)

    def get(self, key: str) -> int:
        return int(self._either(lambda s: s.get(key)))

    def get_expiry(self, key: str) -> float:
        return float(self._either(lambda s: s.get_expiry(key)))

    def incr(self, key: str, expiry: int) -> int:
        return int(self._either(lambda s: s.incr(key, expiry)))

    def clear(self, key: str) -> None:
        self._either(lambda s: s.clear(key))


def throttle(account: str, app: Flask | None = None) -> Throttle:
    """The throttle of this request's client address for ``account``."""
    app = app or current_app
    primary = app.extensions["autopay_limiter"].storage
    spare = app.extensions.setdefault("autopay_throttle_memory", MemoryStorage())
    return Throttle(
        _Fallback(primary, spare), account, get_remote_address() or request.remote_addr or "-"
    )
