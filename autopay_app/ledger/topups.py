"""TOP_UP audit events: a person's wallet sent the agent funds (migration 0014).

``details``: the payer's address, the transaction signature, the asset, the
amount, the receiving agent address and who acted. The balance row itself is
refreshed from the chain by the agent (:func:`autopay_app.agent.guard.refresh`).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.models import AuditEvent, AuditEventType, Severity


def record(
    session: Session,
    agent_id: uuid.UUID,
    *,
    payer: str,
    signature: str,
    asset: str,
    amount: Decimal,
    to: str,
    actor: str,
) -> uuid.UUID:
    """Append the TOP_UP event of one confirmed transfer."""
    event = AuditEvent(
        agent_id=agent_id,
        event_type=AuditEventType.TOP_UP,
        severity=Severity.INFO,
        details={
            "payer": payer,
            "signature": signature,
            "asset": asset,
            "amount": str(amount),
            "to": to,
            "actor": actor,
        },
    )
    with session.begin():
        session.add(event)
    return event.id


def recent(session: Session, agent_id: uuid.UUID, limit: int = 10) -> list[AuditEvent]:
    """The agent's latest TOP_UP events, newest first."""
    with session.begin():
        return list(
            session.scalars(
                sa.select(AuditEvent)
                .where(
                    AuditEvent.agent_id == agent_id, AuditEvent.event_type == AuditEventType.TOP_UP
                )
                .order_by(AuditEvent.created_at.desc())
                .limit(limit)
            )
        )
