"""Guarded I/O: every call to a seller, the RPC or (through a seller) the facilitator.

A call goes through its circuit breaker (:class:`~autopay_app.agent.breaker.BreakerBoard`:
``seller:<host>``, ``rpc``, ``facilitator``): an open breaker fails fast with
:class:`~autopay_app.agent.errors.BreakerOpen` and makes no call; a failure of
a kind that says the service is down (:data:`BREAKER_CATEGORIES`) counts
against it, a success closes it. :func:`with_retries` retries what is retryable
and records each retry (RetryAttempt rows); :func:`in_background` overlaps a
read with a ledger write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar
from urllib.parse import urlsplit

from autopay_app.agent import mcp_target, retry
from autopay_app.agent.chain import Chain
from autopay_app.agent.context import AgentContext
from autopay_app.agent.errors import AgentError, BreakerOpen, SellerError
from autopay_app.agent.http import Answer
from autopay_app.ledger import requests_log

T = TypeVar("T")
FACILITATOR = "facilitator"
RPC = "rpc"
#: Failures that count against a breaker: the service is down or overloaded.
BREAKER_CATEGORIES = frozenset(
    {"NETWORK", "RPC_TIMEOUT", "SELLER_TIMEOUT", "RATE_LIMITED", "SELLER_5XX"}
)


def guarded(ctx: AgentContext, breaker: str, call: Callable[[], T]) -> T:
    """``call()`` through ``breaker``.

    Raises:
        BreakerOpen: The breaker is open: nothing was called.
    """
    if not ctx.breakers.admit(breaker):
        raise BreakerOpen(f"circuit breaker {breaker} is open: failing fast")
    try:
        result = call()
    except AgentError as exc:
        if exc.category in BREAKER_CATEGORIES:
            ctx.breakers.failure(breaker, str(exc)[:300])
        raise
    ctx.breakers.success(breaker)
    return result


def seller_get(
    ctx: AgentContext, url: str, headers: dict[str, str] | None = None, *, paid: bool = False
) -> Answer:
    """GET ``url`` through its seller's breaker; a paid call also through the facilitator's
    (a seller answering 503 ``facilitator_unavailable`` counts against that one)."""
    if paid and not ctx.breakers.admit(FACILITATOR):
        raise BreakerOpen(f"circuit breaker {FACILITATOR} is open: failing fast")
    try:
        get = ctx.mcp.get if mcp_target.is_mcp(url) else ctx.http.get  # a paid MCP tool call
        answer = guarded(ctx, seller_breaker(url), lambda: get(url, headers))
    except SellerError as exc:
        if paid and exc.facilitator:
            ctx.breakers.failure(FACILITATOR, str(exc)[:300])
        raise
    if paid:
        ctx.breakers.success(FACILITATOR)
    return answer


def seller_breaker(url: str) -> str:
    """The breaker of ``url``'s seller (one per host and port)."""
    return f"seller:{urlsplit(url).netloc}"


def rpc(ctx: AgentContext, read: Callable[[Chain], T]) -> T:
    """``read(chain)`` through the RPC's breaker."""
    return guarded(ctx, RPC, lambda: read(ctx.chain))


def in_background(ctx: AgentContext, call: Callable[[], T]) -> Future[T]:
    """Run ``call`` on the agent's small I/O pool (a read that overlaps a ledger write)."""
    return ctx.pool.submit(call)


def with_retries(
    ctx: AgentContext,
    request_id: uuid.UUID,
    call: Callable[[], T],
    *,
    payment_id: uuid.UUID | None = None,
    still_valid: Callable[[], bool] | None = None,
    before: Callable[[], None] | None = None,
) -> T:
    """``call()``, retried while retryable (and while ``still_valid()``); each retry is a
    RetryAttempt row of ``request_id`` (``before()`` runs before one is written: the
    request's own row may still be on its way)."""

    def on_retry(number: int, delay: float, ok: bool, detail: str | None) -> None:
        if before is not None:
            before()
        requests_log.record_attempt(
            ctx.session(), request_id, number, delay, ok, detail, payment_id
        )

    return retry.run(
        call, on_retry, base=ctx.retry_base, should_continue=still_valid or (lambda: True)
    )
