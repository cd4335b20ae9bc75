"""The request side of the pay-and-fetch flow: one transaction per step.

The steps on every request's path (open, 402) are single SQL statements run by
psycopg on an autocommit connection (:mod:`autopay_app.ledger.direct`); the
rest are ORM transactions.

PENDING -> PAYMENT_REQUIRED -> PAID -> ACCESSED, or FAILED with an
ErrorClassification and an audit event. Retries are RetryAttempt rows.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger import direct
from autopay_app.models import (
    ApiRequest,
    ApiType,
    AuditEvent,
    AuditEventType,
    ErrorCategory,
    ErrorClassification,
    RequestStatus,
    RetryAttempt,
    RetryOutcome,
    Severity,
)

TERMINAL = (RequestStatus.ACCESSED, RequestStatus.FAILED)

#: Which audit event a failure of each category raises.
_FAILURE_EVENT = {
    ErrorCategory.NETWORK: AuditEventType.NETWORK_ISSUE,
    ErrorCategory.RPC_TIMEOUT: AuditEventType.NETWORK_ISSUE,
    ErrorCategory.SELLER_TIMEOUT: AuditEventType.NETWORK_ISSUE,
    ErrorCategory.RATE_LIMITED: AuditEventType.NETWORK_ISSUE,
    ErrorCategory.SELLER_5XX: AuditEventType.NETWORK_ISSUE,
    ErrorCategory.POLICY_DENIED: AuditEventType.AGENT_DECISION,
    ErrorCategory.INSUFFICIENT_FUNDS: AuditEventType.LOW_BALANCE,
}


_OPEN = """
INSERT INTO api_requests (id, agent_id, url, endpoint, api_type, request_payload)
VALUES (%(id)s, %(agent_id)s, %(url)s, %(endpoint)s, CAST(%(api_type)s AS api_type),
        CAST(%(request_payload)s AS jsonb))
"""
_RECORD_402 = """
UPDATE api_requests
SET http_status = 402, x402_instructions = CAST(%(x402_instructions)s AS jsonb),
    response_headers = CAST(%(response_headers)s AS jsonb), status = 'PAYMENT_REQUIRED'
WHERE id = %(request_id)s
"""


def open_request(
    conn: direct.Connection,
    agent_id: uuid.UUID,
    url: str,
    endpoint: str,
    api_type: ApiType,
    payload: dict[str, Any] | None,
) -> uuid.UUID:
    """Write the PENDING row before the call (one statement; ``conn`` autocommits)."""
    request_id = uuid.uuid4()
    conn.execute(
        _OPEN,
        {
            "id": request_id,
            "agent_id": agent_id,
            "url": url,
            "endpoint": endpoint[:255],
            "api_type": api_type.value,
            "request_payload": json.dumps(payload) if payload is not None else None,
        },
        prepare=True,
    )
    return request_id


def record_402(
    conn: direct.Connection,
    request_id: uuid.UUID,
    document: dict[str, Any],
    headers: dict[str, Any],
) -> None:
    """Store the payment instructions and the 402's headers (one statement)."""
    conn.execute(
        _RECORD_402,
        {
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
) -> None:
    with session.begin():
        request = session.get_one(ApiRequest, request_id)
        request.http_status, request.response_headers = status, {str(status): headers}
        request.data_accessed, request.latency_ms = data, latency_ms
        request.status = RequestStatus.ACCESSED
        _access_event(session, request)


def _access_event(session: Session, request: ApiRequest) -> None:
    session.add(
        AuditEvent(
            agent_id=request.agent_id,
            event_type=AuditEventType.API_ACCESS,
            related_id=request.id,
            details={
                "endpoint": request.endpoint,
                "url": request.url,
                "http_status": request.http_status,
                "latency_ms": request.latency_ms,
            },
        )
    )


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
) -> None:
    """Mark the request FAILED with its classification and an audit event."""
    cat = (
        ErrorCategory(category)
        if category in ErrorCategory.__members__
        else (ErrorCategory.UNKNOWN)
    )
    with session.begin():
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
        event = _FAILURE_EVENT.get(cat, AuditEventType.PAYMENT_FAILURE)
        severity = Severity.WARNING if cat in _FAILURE_EVENT else Severity.ERROR
        session.add(
            AuditEvent(
                agent_id=request.agent_id,
                event_type=event,
                severity=severity,
                related_id=request_id,
                details={
                    "category": cat.value,
                    "message": message[:1000],
                    "endpoint": request.endpoint,
                    "x402_reason": x402_reason,
                    **(details or {}),
                },
            )
        )


def unfinished(session: Session, agent_id: uuid.UUID, older_than_s: float) -> list[ApiRequest]:
    """Requests of ``agent_id`` not in a terminal state, untouched for ``older_than_s``."""
    return list(
        session.scalars(
            sa.select(ApiRequest).where(
                ApiRequest.agent_id == agent_id,
                ApiRequest.status.not_in(TERMINAL),
                ApiRequest.updated_at
                < sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, older_than_s),
            )
        )
    )
