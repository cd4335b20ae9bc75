"""The BACKUP audit events: every backup, where it went and how it ended.

A backup is the whole ledger's event, so its ``agent_id`` is NULL (migration
0009). ``details`` holds the outcome (``ok`` or ``failed``), the archive's name
and size, the S3 object it was uploaded to, what rotation removed and, on
failure, the one-line error.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.models import AuditEvent, AuditEventType, Severity


def record(session: Session, details: dict[str, Any]) -> uuid.UUID:
    """Append one BACKUP event; ERROR severity unless ``details["outcome"]`` is ``ok``."""
    ok = details.get("outcome") == "ok"
    event = AuditEvent(
        agent_id=None,
        event_type=AuditEventType.BACKUP,
        severity=Severity.INFO if ok else Severity.ERROR,
        details=details,
    )
    with session.begin():
        session.add(event)
    return event.id


def recent(session: Session, limit: int = 20) -> list[AuditEvent]:
    """The latest BACKUP events, newest first."""
    with session.begin():
        return list(
            session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.event_type == AuditEventType.BACKUP)
                .order_by(AuditEvent.created_at.desc())
                .limit(limit)
            )
        )
