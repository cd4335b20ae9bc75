"""Reads behind the dashboard, the JSON API and the benchmarks.

Audit queries use keyset pagination on ``(created_at, id)`` and hit the indexes
of migration 0001: ``(agent_id, created_at DESC)``, ``(event_type, severity,
created_at DESC)`` and the GIN full-text index over ``details``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.models import AuditEvent, AuditEventType, Severity
from autopay_app.models.audit import DETAILS_TSVECTOR

#: A SELECT of any columns.
AnySelect = sa.Select[*tuple[Any, ...]]
#: The same SELECT type in and out (a filter that adds WHERE clauses).
S = TypeVar("S", bound=AnySelect)


@dataclass(frozen=True)
class AuditFilter:
    agent_id: uuid.UUID | None = None
    event_type: AuditEventType | None = None
    severity: Severity | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    #: Keyset cursor: the (created_at, id) of the last row of the previous page.
    before: tuple[datetime, uuid.UUID] | None = None
    limit: int = 50


def audit_select(flt: AuditFilter) -> sa.Select[AuditEvent]:
    """The SELECT for one page of audit events, newest first."""
    query = sa.select(AuditEvent)
    if flt.agent_id is not None:
        query = query.where(AuditEvent.agent_id == flt.agent_id)
    if flt.event_type is not None:
        query = query.where(AuditEvent.event_type == flt.event_type)
    if flt.severity is not None:
        query = query.where(AuditEvent.severity == flt.severity)
    if flt.since is not None:
        query = query.where(AuditEvent.created_at >= flt.since)
    if flt.until is not None:
        query = query.where(AuditEvent.created_at < flt.until)
    if flt.text:
        query = query.where(
            sa.text(f"{DETAILS_TSVECTOR} @@ websearch_to_tsquery('simple', :q)").bindparams(
                q=flt.text
            )
        )
    if flt.before is not None:
        query = query.where(
            sa.tuple_(AuditEvent.created_at, AuditEvent.id) < sa.tuple_(*flt.before)
        )
    return query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(flt.limit)


def audit_page(session: Session, flt: AuditFilter) -> list[AuditEvent]:
    return list(session.scalars(audit_select(flt)))


def explain(session: Session, query: AnySelect) -> list[str]:
    """EXPLAIN of ``query`` as text lines (for benchmarks and tests)."""
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    return [row[0] for row in session.execute(sa.text(f"EXPLAIN {compiled}"))]


def changed_rows(result: sa.Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE changed, as the driver reports it (its
    result is a cursor result; an ORM-enabled INSERT reports -1: "some")."""
    return int(cast(sa.CursorResult[Any], result).rowcount or 0)
