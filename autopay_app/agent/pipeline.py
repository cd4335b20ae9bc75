"""One paid request, run step by step; the one place where a failure becomes a record.

:func:`run` opens the request and :func:`proceed` drives it through
:data:`NEXT` (each step's function chosen by the type of the state it gets)
until a :class:`~autopay_app.agent.result.FetchResult`. Any exception a step
raises is turned into the ledger's failure by :func:`record_failure`: the
request FAILED with its classification (and the 402 it refused, or, once a
payment is written, that payment's fate settled from the chain: never by paying
again). A fetch never raises for a failed purchase.

Phase 2 is the same pipeline: ``run(..., hold=True)`` stops after the decision
(:func:`autopay_app.agent.approval.hold`), and :func:`resume` proceeds from
the approved decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from autopay_app.agent import approval, settle, steps
from autopay_app.agent.approval import Approved
from autopay_app.agent.context import AgentContext
from autopay_app.agent.errors import AgentError
from autopay_app.agent.result import FetchResult, recorded
from autopay_app.agent.states import Decided, Delivered, FetchRequest, Opened, Quoted, Signed
from autopay_app.ledger import requests_log

State = Opened | Quoted | Approved | Decided | Signed | Delivered
#: The step that follows each state, in the order of a paid request.
NEXT: dict[type[Any], Callable[[AgentContext, Any], State | FetchResult]] = {
    Opened: steps.ask,
    Quoted: steps.decide,
    Approved: approval.approved_decision,  # Phase 2: instead of decide
    Decided: steps.reserve_sign_write_ahead,
    Signed: steps.deliver,
    Delivered: steps.verify,
}


def run(ctx: AgentContext, request: FetchRequest, *, hold: bool = False) -> FetchResult:
    """Fetch ``request.url``, paying if it asks (within policy); ``hold`` stops after the
    decision for a person's approval (Phase 2). Seller calls end within the fetch's
    deadline (AUTOPAY_FETCH_DEADLINE_S) in all."""
    with ctx.http.fetch_deadline(ctx.settings.fetch_deadline_s):
        return proceed(ctx, steps.open_request(ctx, request), hold=hold)


def proceed(ctx: AgentContext, state: State, *, hold: bool = False) -> FetchResult:
    """Drive ``state`` through the remaining steps to its result."""
    try:
        while True:
            if hold and isinstance(state, Decided):
                return approval.hold(ctx, state)
            after = NEXT[type(state)](ctx, state)
            if isinstance(after, FetchResult):
                return after
            state = after
    except AgentError as exc:
        return record_failure(ctx, state, exc)
    except Exception as exc:  # never lose a record, whatever broke
        return record_failure(ctx, state, AgentError(f"unexpected {type(exc).__name__}: {exc}"))


def resume(ctx: AgentContext, request_id: uuid.UUID, external: Any = None) -> FetchResult:
    """Phase 2: a person approved ``request_id``: proceed from its stored decision (the
    balance row is refreshed after the payment, as after any). ``external``: the person's
    wallet signed the payment already (:mod:`autopay_app.agent.wallet_pay`).

    Raises:
        PolicyDenied: Nothing waits for approval on ``request_id``.
    """
    approved = approval.approve(ctx, request_id, external)
    with ctx.http.fetch_deadline(ctx.settings.fetch_deadline_s):
        return proceed(ctx, approved)


def record_failure(ctx: AgentContext, state: State, exc: AgentError) -> FetchResult:
    """The request FAILED with ``exc``'s classification, from wherever it stopped (once
    its PENDING row is in: if that INSERT failed, its error is raised, nothing recorded)."""
    state.opened.ensure_written()
    payment_id = state.payment_id if isinstance(state, Signed | Delivered) else None
    details: dict[str, str] | None = None
    if payment_id is not None:  # no data: the payment's fate comes from the chain
        details = {"payment_state": settle.settle(ctx, payment_id)}
        if exc.cause:  # what the agent proved about a refusal
            details["cause"] = exc.cause
    elif isinstance(state, Quoted | Decided):  # a refused 402 is part of the record too
        steps.record_402(ctx, state if isinstance(state, Quoted) else state.quoted)
    request_id = state.opened.request_id
    requests_log.fail(
        ctx.session(),
        request_id,
        exc.category,
        str(exc),
        retryable=exc.retryable,
        x402_reason=exc.x402_reason,
        http_status=exc.http_status,
        payment_id=payment_id,
        details=details,
        actor=ctx.actor,
    )
    return recorded(ctx, request_id, error=str(exc), category=exc.category)
