"""Phase 2 approvals: a decided payment waits here for a person's yes or no.

A PENDING :class:`~autopay_app.models.PaymentApproval` holds the offer the agent
chose (nothing is signed); the request keeps the 402's instructions, so an
approval is resumed from the stored decision. :func:`close` moves a PENDING
approval to APPROVED or DECLINED (or EXPIRED once past its time) exactly once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.errors import LedgerError
from autopay_app.ledger import balances
from autopay_app.models import ApiRequest, PaymentApproval


@dataclass(frozen=True)
class Approval:
    """An approval card: what would be paid, to whom, and the balance before and after."""

    request_id: uuid.UUID
    agent_id: uuid.UUID
    url: str
    endpoint: str
    description: str | None
    amount: Decimal
    asset: str
    pay_to: str
    balance_before: Decimal | None
    balance_after: Decimal | None
    expires_at: datetime
    reason: str | None = None  # why the caller asked (an LLM agent's words, ``autopay mcp``)


@dataclass(frozen=True)
class Stored:
    """A closed approval and the request it decided: enough to resume the payment."""

    request_id: uuid.UUID
    decision: str
    offer_index: int
    currency: str
    url: str
    instructions: dict[str, Any] | None


class Closed(LedgerError):
    """The approval was decided already, or there is none."""


def hold(
    session: Session,
    *,
    request_id: uuid.UUID,
    agent_id: uuid.UUID,
    offer_index: int,
    amount: Decimal,
    currency: str,
    pay_to: str,
    description: str | None,
    ttl: timedelta,
) -> None:
    """Park a decided payment as a PENDING approval that expires after ``ttl``."""
    with session.begin():
        session.add(
            PaymentApproval(
                api_request_id=request_id,
                agent_id=agent_id,
                offer_index=offer_index,
                amount=amount,
                currency=currency,
                pay_to=pay_to,
                description=description,
                expires_at=datetime.now(UTC) + ttl,
            )
        )


def close(session: Session, request_id: uuid.UUID, decision: str) -> Stored:
    """Move the PENDING approval of ``request_id`` to ``decision`` (EXPIRED when late).

    Raises:
        Closed: There is no approval for the request, or it was decided already.
    """
    with session.begin():
        row = session.scalars(
            sa.select(PaymentApproval)
            .where(PaymentApproval.api_request_id == request_id)
            .with_for_update()
        ).first()
        if row is None:
            raise Closed(f"no approval is waiting for request {request_id}")
        if row.decision != "PENDING":
            raise Closed(f"request {request_id} was already {row.decision.lower()}")
        now = datetime.now(UTC)
        row.decision = "EXPIRED" if row.expires_at <= now else decision
        row.decided_at = now
        request = session.get_one(ApiRequest, request_id)
        return Stored(
            request_id,
            row.decision,
            row.offer_index,
            str(row.currency),
            request.url or "",
            request.x402_instructions,
        )


def peek(session: Session, request_id: uuid.UUID) -> Stored | None:
    """The approval of ``request_id`` while a person may still decide (PENDING, not
    expired), without deciding it; None otherwise."""
    with session.begin():
        row = session.scalars(
            sa.select(PaymentApproval).where(
                PaymentApproval.api_request_id == request_id,
                PaymentApproval.decision == "PENDING",
                PaymentApproval.expires_at > sa.func.now(),
            )
        ).first()
        if row is None:
            return None
        request = session.get_one(ApiRequest, request_id)
        return Stored(
            request_id,
            row.decision,
            row.offer_index,
            str(row.currency),
            request.url or "",
            request.x402_instructions,
        )


def expired(session: Session, agent_id: uuid.UUID) -> list[uuid.UUID]:
    """Requests of ``agent_id`` whose approval is still PENDING past its time."""
    with session.begin():
        return list(
            session.scalars(
                sa.select(PaymentApproval.api_request_id).where(
                    PaymentApproval.agent_id == agent_id,
                    PaymentApproval.decision == "PENDING",
                    PaymentApproval.expires_at <= sa.func.now(),
                )
            )
        )


def decision(session: Session, request_id: uuid.UUID) -> str | None:
    """The approval of ``request_id`` as decided so far (PENDING until closed); None if none."""
    with session.begin():
        value = session.scalar(
            sa.select(PaymentApproval.decision).where(PaymentApproval.api_request_id == request_id)
        )
    return None if value is None else str(value)


def is_open(session: Session, request_id: uuid.UUID) -> bool:
    """Is a person still to decide on ``request_id`` (PENDING and not expired)?"""
    with session.begin():
        waiting = session.scalar(
            sa.select(sa.func.count())
            .select_from(PaymentApproval)
            .where(
                PaymentApproval.api_request_id == request_id,
                PaymentApproval.decision == "PENDING",
                PaymentApproval.expires_at > sa.func.now(),
            )
        )
    return bool(waiting)


def pending(session: Session, agent_id: uuid.UUID) -> list[Approval]:
    """Approvals of ``agent_id`` still waiting for a decision, oldest first."""
    with session.begin():
        rows = session.execute(
            sa.select(PaymentApproval, ApiRequest)
            .join(ApiRequest, ApiRequest.id == PaymentApproval.api_request_id)
            .where(
                PaymentApproval.agent_id == agent_id,
                PaymentApproval.decision == "PENDING",
                PaymentApproval.expires_at > sa.func.now(),
            )
            .order_by(PaymentApproval.created_at)
        ).all()
    read = balances.latest(session, agent_id)
    out = []
    for approval, request in rows:
        before = read and {"USDC": read.balance_usdc, "CASH": read.balance_cash}.get(
            approval.currency
        )
        out.append(
            Approval(
                request.id,
                agent_id,
                request.url or "",
                request.endpoint,
                approval.description,
                approval.amount,
                approval.currency,
                approval.pay_to,
                before,
                before - approval.amount if before else None,
                approval.expires_at,
                request.reason,
            )
        )
    return out
