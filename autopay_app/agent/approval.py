"""Phase 2: a person approves or declines each payment before it is signed.

The pipeline stops after ``decide`` (:func:`hold`: a PENDING approval, the 402
stored, nothing signed). Approving (:func:`approve`) yields an :class:`Approved`
state the pipeline resumes from: :func:`approved_decision` rebuilds the decision
from the stored 402 and the approved offer, and the usual steps follow
(reserve, sign, write ahead, deliver, verify). Declining, or an approval that
expired, fails the request with POLICY_DENIED; nothing is signed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from autopay_app.agent import gateway, guard
from autopay_app.agent.context import AgentContext
from autopay_app.agent.errors import PolicyDenied
from autopay_app.agent.policy import Choice, to_tokens
from autopay_app.agent.result import FetchResult
from autopay_app.agent.states import Decided, FetchRequest, Opened, Quoted
from autopay_app.agent.steps import record_402
from autopay_app.ledger import approvals, requests_log
from autopay_app.models import ErrorCategory

APPROVAL_TTL = timedelta(minutes=5)
APPROVED, DECLINED, EXPIRED = "APPROVED", "DECLINED", "EXPIRED"


@dataclass(frozen=True)
class Approved:
    """A person answered the approval of this request (APPROVED, or EXPIRED if too late)."""

    opened: Opened
    stored: approvals.Stored
    #: A person's wallet signed the payment (:mod:`autopay_app.agent.wallet_pay`).
    external: Any = None


def hold(ctx: AgentContext, decided: Decided, ttl: timedelta = APPROVAL_TTL) -> FetchResult:
    """Park the decision as a PENDING approval (its 402 stored: the payment resumes from it)."""
    record_402(ctx, decided.quoted)
    choice = decided.choice
    approvals.hold(
        ctx.session(),
        request_id=decided.opened.request_id,
        agent_id=ctx.agent_id,
        offer_index=choice.offer.index,
        amount=choice.amount,
        currency=choice.asset,
        pay_to=choice.offer.pay_to,
        description=decided.quoted.info.description,
        ttl=ttl,
    )
    return FetchResult(
        decided.opened.request_id, "AWAITING_APPROVAL", amount=choice.amount, asset=choice.asset
    )


def _close(ctx: AgentContext, request_id: uuid.UUID, decision: str) -> approvals.Stored:
    try:
        return approvals.close(ctx.session(), request_id, decision)
    except approvals.Closed as exc:
        raise PolicyDenied(str(exc)) from None


def approve(ctx: AgentContext, request_id: uuid.UUID, external: Any = None) -> Approved:
    """Close the approval as APPROVED (EXPIRED when too late): the state to resume from.

    Raises:
        PolicyDenied: Nothing waits for approval on ``request_id`` (never asked, or decided).
    """
    stored = _close(ctx, request_id, APPROVED)
    return Approved(Opened(FetchRequest(stored.url), request_id), stored, external)


def approved_decision(ctx: AgentContext, approved: Approved) -> Decided:
    """The pipeline's step after an approval: the stored 402 and the approved offer, and a
    fresh balance read that covers it.

    Raises:
        PolicyDenied: The approval expired.
        InvalidPaymentRequired: The stored 402 does not parse any more.
        InsufficientFunds: The balance no longer covers the payment.
    """
    stored = approved.stored
    if stored.decision == EXPIRED:
        raise PolicyDenied("approval expired: nothing was signed")
    document = json.dumps(stored.instructions).encode()
    info = gateway.parse_payment_required({}, document)
    offer = info.offers[stored.offer_index]
    choice = Choice(offer, stored.currency, to_tokens(offer.amount_atomic))
    external = approved.external
    if external is None:  # the agent pays: its balance must cover it
        guard.ensure_funds(ctx, choice.asset, choice.amount)
        return Decided(Quoted(approved.opened, info, {}, recorded=True), choice)
    if stored.offer_index != external.offer_index:
        raise PolicyDenied("the wallet signed another offer than the one approved")
    quoted = Quoted(approved.opened, info, {}, recorded=True, blockhash=external.blockhash)
    return Decided(quoted, choice, external)


def decline(ctx: AgentContext, request_id: uuid.UUID) -> None:
    """A person said no (or the approval expired): the request fails, nothing is signed.

    Raises:
        PolicyDenied: Nothing waits for approval on ``request_id``.
    """
    stored = _close(ctx, request_id, DECLINED)
    reason = "approval expired" if stored.decision == EXPIRED else "declined by a person"
    requests_log.fail(
        ctx.session(),
        request_id,
        ErrorCategory.POLICY_DENIED.value,
        f"{reason}: nothing was signed",
        actor=ctx.actor,
    )


def expire(ctx: AgentContext) -> int:
    """Fail every approval of the agent past its time; returns how many."""
    expired = approvals.expired(ctx.session(), ctx.agent_id)
    for request_id in expired:
        decline(ctx, request_id)
    return len(expired)
