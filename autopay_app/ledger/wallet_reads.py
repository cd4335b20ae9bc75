"""What an agent's own wallet tools read (``autopay mcp``): its requests, payments, spend.

Every read is scoped to one agent: a caller holding one agent's tools never
sees another agent's requests or data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger import spend
from autopay_app.ledger.requests_log import Outcome
from autopay_app.models import ApiRequest, ErrorClassification, Payment, PaymentApproval


@dataclass(frozen=True)
class PaymentLine:
    """One payment as a wallet tool lists it."""

    payment_id: uuid.UUID
    request_id: uuid.UUID
    url: str | None
    tool_name: str | None
    reason: str | None
    amount: Decimal
    currency: str
    status: str
    payment_hash: str | None
    created_at: datetime


@dataclass(frozen=True)
class RequestState:
    """A request of the agent as it is now, with its approval's decision (Phase 2)."""

    outcome: Outcome
    approval: str | None  # PENDING, APPROVED, DECLINED, EXPIRED; None: never held
    failure: ErrorClassification | None = None  # the latest, for a FAILED request


def recent_payments(session: Session, agent_id: uuid.UUID, limit: int) -> list[PaymentLine]:
    """The agent's latest ``limit`` payments, newest first, with what they bought and why."""
    query = (
        sa.select(Payment, ApiRequest.url, ApiRequest.tool_name, ApiRequest.reason)
        .join(ApiRequest, ApiRequest.id == Payment.api_request_id)
        .where(Payment.agent_id == agent_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    )
    with session.begin():
        rows = session.execute(query).all()
    return [
        PaymentLine(
            p.id,
            p.api_request_id,
            url,
            tool,
            reason,
            p.amount,
            str(p.currency),
            str(p.status),
            p.payment_hash,
            p.created_at,
        )  # fmt: skip
        for p, url, tool, reason in rows
    ]


def request_state(
    session: Session, agent_id: uuid.UUID, request_id: uuid.UUID
) -> RequestState | None:
    """Request ``request_id`` if it is the agent's (None otherwise), with its approval."""
    with session.begin():
        request = session.get(ApiRequest, request_id)
        if request is None or request.agent_id != agent_id:
            return None
        payment = session.scalars(
            sa.select(Payment)
            .where(Payment.api_request_id == request_id)
            .order_by(Payment.created_at.desc())
            .limit(1)
        ).first()
        decision = session.scalar(
            sa.select(PaymentApproval.decision).where(PaymentApproval.api_request_id == request_id)
        )
        failure = session.scalars(
            sa.select(ErrorClassification)
            .where(ErrorClassification.api_request_id == request_id)
            .order_by(ErrorClassification.created_at.desc())
            .limit(1)
        ).first()
    return RequestState(Outcome(request, payment), decision, failure)


def spent(session: Session, agent_id: uuid.UUID) -> tuple[Decimal, Decimal]:
    """What the agent committed in the rolling hour and day (every payment not FAILED)."""
    with session.begin():
        return spend.windows(session, agent_id)
