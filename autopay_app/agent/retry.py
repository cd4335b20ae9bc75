"""Retries with tenacity: at most 3, exponential backoff (base, 2 base, 4 base) plus jitter.

Only retryable errors (network, timeouts, 429, seller 5xx, settlement pending)
are retried; the rest fail at once. Each retry is reported to ``on_retry`` with
its number (1-3), the delay slept before it, and its outcome, for the ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from autopay_app.agent.errors import AgentError

T = TypeVar("T")
OnRetry = Callable[[int, float, bool, str | None], None]
MAX_RETRIES = 3


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, AgentError) and exc.retryable


def run(
    fn: Callable[[], T],
    on_retry: OnRetry,
    *,
    base: float,
    retries: int = MAX_RETRIES,
    should_continue: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it succeeds, fails for good, or ``retries`` retries are spent."""
    idle_before = 0.0
    retrying = Retrying(
        retry=retry_if_exception(lambda e: _retryable(e) and should_continue()),
        stop=stop_after_attempt(1 + retries),
        wait=wait_exponential(multiplier=base, exp_base=2) + wait_random(0, base * 0.25),
        sleep=sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            number = attempt.retry_state.attempt_number
            delay = attempt.retry_state.idle_for - idle_before
            idle_before = attempt.retry_state.idle_for
            try:
                result = fn()
            except AgentError as exc:
                if number > 1:
                    on_retry(number - 1, delay, False, str(exc))
                raise
            if number > 1:
                on_retry(number - 1, delay, True, None)
    return result
