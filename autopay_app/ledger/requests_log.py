"""The request side of a paid request: one transaction per step.

The steps on every request's path (open, 402) are single SQL statements run by
psycopg on an autocommit connection (:mod:`autopay_app.ledger.direct`); the
rest are ORM transactions.

PENDING -> PAYMENT_REQUIRED -> PAID -> ACCESSED, or FAILED with an
ErrorClassification. Each status change audits itself (a trigger: API_ACCESS on
ACCESSED, the failure's event on FAILED, REQUEST_STATUS otherwise); the
functions name the actor and, for a failure, its context
(:mod:`autopay_app.ledger.audit`). Retries are RetryAttempt rows.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger import audit, direct
from autopay_app.models import (
    ApiRequest,
    ApiType,
    ErrorCategory,
    ErrorClassification,
    Payment,
    RequestKind,
    RequestStatus,
    RetryAttempt,
    RetryOutcome,
)

TERMINAL = (RequestStatus.ACCESSED, RequestStatus.FAILED)


@dataclass(frozen=True)
class ToolCall:
    """What a request records besides its URL: an MCP tool and its arguments' hash (None
    for HTTP), and the reason the caller gave."""

    tool: str | None = None
    arguments_hash: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A request as it ended, with its latest payment (None: no payment was made)."""

    request: ApiRequest
    payment: Payment | None


_OPEN = f"""
WITH {audit.ACTOR_CTE}, {direct.NO_FLUSH_CTE}
INSERT INTO api_requests (id, agent_id, url, endpoint, api_type, request_payload,
                          request_kind, tool_name, arguments_hash, reason)
SELECT CAST(%(id)s AS uuid), CAST(%(agent_id)s AS uuid), %(url)s, %(endpoint)s,
       CAST(%(api_type)s AS api_type), CAST(%(request_payload)s AS jsonb),
       CAST(%(request_kind)s AS request_kind), %(tool_name)s, %(arguments_hash)s, %(reason)s
FROM ctx, no_flush
"""
_RECORD_402 = f"""
WITH {audit.ACTOR_CTE}
UPDATE api_requests
SET http_status = 402, x402_instructions = CAST(%(x402_instructions)s AS jsonb),
    response_headers = CAST(%(response_headers)s AS jsonb), status = 'PAYMENT_REQUIRED'
FROM ctx
WHERE id = %(request_id)s
"""


def open_request(
    conn: direct.Connection,
    actor: str,
    agent_id: uuid.UUID,
    url: str,
    endpoint: str,
    api_type: ApiType,
    payload: dict[str, Any] | None,
    call: ToolCall | None = None,
    *,
    request_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Write the PENDING row before the call (one statement; ``conn`` autocommits).

    Its commit does not wait for the WAL flush (:data:`~autopay_app.ledger.direct.NO_FLUSH_CTE`):
    nothing was paid yet, and the write-ahead's durable commit flushes this row too.

    ``call``: what an MCP tool call names (tool, arguments hash) and why it was asked.
    """
    call = call or ToolCall()
    request_id = request_id or uuid.uuid4()
    conn.execute(
        _OPEN,
        {
            "actor": actor,
            "id": request_id,
            "agent_id": agent_id,
            "url": url,
            "endpoint": endpoint[:255],
            "api_type": api_type.value,
            "request_payload": json.dumps(payload) if payload is not None else None,
            "request_kind": (RequestKind.MCP if call.tool else RequestKind.HTTP).value,
            "tool_name": call.tool,
            "arguments_hash": call.arguments_hash,
            "reason": call.reason,
        },
        prepare=True,
    )
    return request_id


def record_402(
    conn: direct.Connection,
    actor: str,
    request_id: uuid.UUID,
    document: dict[str, Any],
    headers: dict[str, Any],
) -> None:
    """Store the payment instructions and the 402's headers (one statement)."""
    conn.execute(
        _RECORD_402,
        {
            "actor": actor,
            "request_id": request_id,
            "x402_instructions": json.dumps(document),
            "response_headers": json.dumps({"402": headers}),
        },
        prepare=True,
    )


def record_free_access(
    session: Session,
    request_id: uuid.UUID,
    data: Any,
    status: int,
    headers: dict[str, Any],
    latency_ms: int,
    *,
    actor: str | None = None,
) -> None:
    """The resource was free (no 402): ACCESSED with its data."""
    with session.begin():
        audit.tag(session, actor)
        request = session.get_one(ApiRequest, request_id)
        request.http_status, request.response_headers = status, {str(status): headers}
        request.data_accessed, request.latency_ms = data, latency_ms
        request.status = RequestStatus.ACCESSED


def record_attempt(
    session: Session,
    request_id: uuid.UUID,
    number: int,
    delay_s: float,
    succeeded: bool,
    detail: str | None,
    payment_id: uuid.UUID | None = None,
) -> None:
    with session.begin():
        session.add(
            RetryAttempt(
                api_request_id=request_id,
                payment_id=payment_id,
                attempt_number=number,
                backoff_delay=timedelta(seconds=delay_s),
                outcome=RetryOutcome.SUCCESS if succeeded else RetryOutcome.FAILURE,
                detail=(detail or "")[:2000] or None,
            )
        )


def fail(
    session: Session,
    request_id: uuid.UUID,
    category: str,
    message: str,
    *,
    retryable: bool = False,
    x402_reason: str | None = None,
    http_status: int | None = None,
    payment_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Mark the request FAILED with its classification; its audit event (by category:
    NETWORK_ISSUE, AGENT_DECISION, LOW_BALANCE or PAYMENT_FAILURE) carries ``category``,
    ``message``, ``x402_reason`` and ``details``."""
    cat = (
        ErrorCategory(category)
        if category in ErrorCategory.__members__
        else (ErrorCategory.UNKNOWN)
    )
    context = {
        "category": cat.value,
        "message": message[:1000],
        "x402_reason": x402_reason,
        **(details or {}),
    }
    with session.begin():
        audit.tag(session, actor, context)
        request = session.get_one(ApiRequest, request_id)
        if http_status is not None:
            request.http_status = http_status
        request.status = RequestStatus.FAILED
        session.add(
            ErrorClassification(
                agent_id=request.agent_id,
                api_request_id=request_id,
                payment_id=payment_id,
                category=cat,
                retryable=retryable,
                message=message[:4000],
                x402_reason=x402_reason,
                details=details,
            )
        )


def unfinished(session: Session, agent_id: uuid.UUID, older_than_s: float) -> list[uuid.UUID]:
    """Requests of ``agent_id`` not in a terminal state, untouched for ``older_than_s``."""
    with session.begin():
        return list(
            session.scalars(
                sa.select(ApiRequest.id).where(
                    ApiRequest.agent_id == agent_id,
                    ApiRequest.status.not_in(TERMINAL),
                    ApiRequest.updated_at
                    < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, older_than_s),
                )
            )
        )


def outcome(session: Session, request_id: uuid.UUID) -> Outcome:
    """The request and its latest payment, as they are now."""
    with session.begin():
        request = session.get_one(ApiRequest, request_id)
        payment = session.scalars(
            sa.select(Payment)
            .where(Payment.api_request_id == request_id)
            .order_by(Payment.created_at.desc())
            .limit(1)
        ).first()
        return Outcome(request, payment)
