"""Reads behind the dashboard, the JSON API and the benchmarks.

Audit queries use keyset pagination on ``(created_at, id)`` and hit the indexes
of migration 0001: ``(agent_id, created_at DESC)``, ``(event_type, severity,
created_at DESC)`` and the GIN full-text index over ``details`` (its strings but
the status events' own ids since 0017: a search for a whole id also matches
``related_id``, through its index).
"""

from __future__ import annotations

import re
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
        query = query.where(text_match(flt.text))
    if flt.before is not None:
        query = query.where(
            sa.tuple_(AuditEvent.created_at, AuditEvent.id) < sa.tuple_(*flt.before)
        )
    return query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).limit(flt.limit)


_WORDS = f"{DETAILS_TSVECTOR} @@ websearch_to_tsquery('simple', :q)"
#: The status events' ``payment_id`` and ``api_request_id`` (left out of the words): the
#: event's own ``related_id``, or for a payment's events its request's id.
#: (An array, not ``IN (SELECT ...)``: a bitmap scan of ``related_id`` ORs with the words'.)
_IDS = (
    f"({_WORDS} OR related_id = ANY (ARRAY(SELECT p.id FROM payments p "
    "WHERE p.api_request_id = CAST(:id AS uuid)) || CAST(:id AS uuid)))"
)


def _whole_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.strip().strip('"'))
    except ValueError:
        return None


#: A URL's scheme: the index keeps a URL's host and path but not its scheme, and
#: websearch_to_tsquery reads "http://host/path" as the words "http" and "/host/path"
#: (a pasted URL found nothing).
_SCHEME = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://")


def text_match(text: str) -> sa.TextClause:
    """Full-text search of ``details`` (websearch syntax; a URL is searched without its
    scheme); a whole id also finds the events the index leaves it out of (a status
    event's own id, a payment's request id)."""
    found = _whole_id(text)
    words = _SCHEME.sub("", text)
    if found is None:
        return sa.text(_WORDS).bindparams(q=words)
    return sa.text(_IDS).bindparams(q=words, id=str(found))


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
