"""Every change of a payment's status writes an AuditEvent, in the same transaction.

This is the seed's "Prisma middleware" as a SQLAlchemy ``before_flush`` hook:
whoever changes ``Payment.status`` through the ORM (the agent, reconciliation,
the dashboard) gets the audit row without asking for it, and both commit or roll
back together.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from autopay_app.models import AuditEvent, AuditEventType, Payment, PaymentStatus, Severity

_installed = False


def event_for_status(status: PaymentStatus) -> tuple[AuditEventType, Severity]:
    """The audit event type and severity recorded when a payment enters ``status``."""
    if status is PaymentStatus.VERIFIED:
        return AuditEventType.PAYMENT_SUCCESS, Severity.INFO
    if status is PaymentStatus.FAILED:
        return AuditEventType.PAYMENT_FAILURE, Severity.ERROR
    return AuditEventType.PAYMENT_STATUS, Severity.INFO


def _status_change(payment: Payment) -> tuple[str | None, str] | None:
    state = inspect(payment)
    if state.transient or state.pending:
        return None, str(payment.status or PaymentStatus.INITIATED)
    history = state.attrs.status.history
    if not history.has_changes() or not history.added:
        return None
    before = history.deleted[0] if history.deleted else None
    after = history.added[0]
    if before == after:
        return None
    return (str(before) if before is not None else None), str(after)


def _assign_ids(session: Session) -> None:
    # Python-side UUID defaults apply at INSERT; the audit row needs them before.
    for obj in session.new:
        if hasattr(obj, "id") and obj.id is None:
            obj.id = uuid.uuid4()


def status_event(
    *,
    payment_id: uuid.UUID,
    request_id: uuid.UUID | None,
    before: str | None,
    after: str,
    amount: Any,
    currency: Any,
    payment_hash: str | None,
) -> dict[str, Any]:
    """The audit event of a payment entering ``after``: type, severity and details.

    Shared by the ORM hook and the agent's hot path
    (:mod:`autopay_app.ledger.purchase`), so both write the same rows.
    """
    event_type, severity = event_for_status(PaymentStatus(after))
    return {
        "event_type": event_type,
        "severity": severity,
        "related_id": payment_id,
        "details": {
            "payment_id": str(payment_id),
            "api_request_id": str(request_id),
            "from": before,
            "to": after,
            "amount": str(amount),
            "currency": str(currency),
            "payment_hash": payment_hash,
        },
    }


def _audit_payment_changes(session: Session, flush_context: Any, instances: Any) -> None:
    _assign_ids(session)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, Payment):
            continue
        change = _status_change(obj)
        if change is None:
            continue
        before, after = change
        if obj.status is None:
            obj.status = PaymentStatus.INITIATED
        request_id = obj.api_request_id or (obj.api_request.id if obj.api_request else None)
        event = status_event(
            payment_id=obj.id,
            request_id=request_id,
            before=before,
            after=after,
            amount=obj.amount,
            currency=obj.currency,
            payment_hash=obj.payment_hash,
        )
        session.add(AuditEvent(agent_id=obj.agent_id, **event))


def install() -> None:
    """Register the hook once per process (idempotent)."""
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", _audit_payment_changes)
        _installed = True
