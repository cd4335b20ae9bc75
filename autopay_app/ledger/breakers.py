"""Circuit breaker state, shared by every process through the database.

CLOSED -> OPEN after ``threshold`` consecutive failures; OPEN -> HALF_OPEN once
``cooldown`` has passed (one trial); HALF_OPEN -> CLOSED on success, back to
OPEN on failure. Every change of state is a CIRCUIT_BREAKER audit event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from autopay_app.models import AuditEvent, AuditEventType, CircuitBreaker, Severity


def _row(session: Session, name: str) -> CircuitBreaker:
    session.execute(insert(CircuitBreaker).values(name=name).on_conflict_do_nothing())
    return session.scalars(
        sa.select(CircuitBreaker).where(CircuitBreaker.name == name).with_for_update()
    ).one()


def _transition(
    session: Session, row: CircuitBreaker, state: str, agent_id: uuid.UUID, reason: str
) -> None:
    if row.state == state:
        return
    session.add(
        AuditEvent(
            agent_id=agent_id,
            event_type=AuditEventType.CIRCUIT_BREAKER,
            severity=Severity.WARNING if state == "OPEN" else Severity.INFO,
            details={
                "breaker": row.name,
                "from": row.state,
                "state": state,
                "failures": row.consecutive_failures,
                "reason": reason,
            },
        )
    )
    row.state = state
    row.opened_at = datetime.now(UTC) if state == "OPEN" else row.opened_at


def admit(session: Session, name: str, agent_id: uuid.UUID, cooldown_s: float) -> bool:
    """May a call go out? Moves OPEN to HALF_OPEN once the cooldown has passed."""
    with session.begin():
        row = _row(session, name)
        if row.state != "OPEN":
            return True
        opened = row.opened_at or datetime.now(UTC)
        if (datetime.now(UTC) - opened).total_seconds() < cooldown_s:
            return False
        _transition(session, row, "HALF_OPEN", agent_id, "cooldown elapsed: one trial call")
        return True


def success(session: Session, name: str, agent_id: uuid.UUID) -> None:
    with session.begin():
        row = _row(session, name)
        row.consecutive_failures = 0
        _transition(session, row, "CLOSED", agent_id, "call succeeded")


def failure(session: Session, name: str, agent_id: uuid.UUID, threshold: int, reason: str) -> None:
    with session.begin():
        row = _row(session, name)
        row.consecutive_failures += 1
        if row.state == "HALF_OPEN" or row.consecutive_failures >= threshold:
            _transition(session, row, "OPEN", agent_id, reason)


def states(session: Session) -> dict[str, str]:
    with session.begin():
        return {r.name: r.state for r in session.scalars(sa.select(CircuitBreaker))}
