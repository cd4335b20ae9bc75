"""Every payment status change writes an AuditEvent in the same transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.models import AuditEvent, AuditEventType, PaymentStatus, Severity
from tests.factories import make_agent, make_payment, make_request


def _events(session: Session, payment_id) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with session.begin():
        return list(
            session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.related_id == payment_id)
                .order_by(AuditEvent.created_at)
            )
        )


def test_each_status_change_is_audited_in_order(session: Session) -> None:
    with session.begin():
        payment = make_payment(session, make_request(session, make_agent(session)))
    for status in (PaymentStatus.SIGNED, PaymentStatus.CONFIRMED, PaymentStatus.VERIFIED):
        with session.begin():
            session.add(payment)
            payment.status = status
    events = _events(session, payment.id)
    assert [(e.details["from"], e.details["to"]) for e in events] == [
        (None, "INITIATED"),
        ("INITIATED", "SIGNED"),
        ("SIGNED", "CONFIRMED"),
        ("CONFIRMED", "VERIFIED"),
    ]
    assert [e.event_type for e in events][-1] is AuditEventType.PAYMENT_SUCCESS
    assert {e.event_type for e in events[:-1]} == {AuditEventType.PAYMENT_STATUS}


def test_failure_is_an_error_event(session: Session) -> None:
    with session.begin():
        payment = make_payment(session, make_request(session, make_agent(session)))
    with session.begin():
        session.add(payment)
        payment.status = PaymentStatus.FAILED
    last = _events(session, payment.id)[-1]
    assert (last.event_type, last.severity) == (AuditEventType.PAYMENT_FAILURE, Severity.ERROR)


def test_no_event_without_a_change(session: Session) -> None:
    with session.begin():
        payment = make_payment(session, make_request(session, make_agent(session)))
    with session.begin():
        session.add(payment)
        payment.status = PaymentStatus.INITIATED
        payment.memo = "changed something else"
    assert len(_events(session, payment.id)) == 1


def test_rolled_back_change_leaves_no_event(session: Session) -> None:
    with session.begin():
        payment = make_payment(session, make_request(session, make_agent(session)))
    payment_id = payment.id
    with pytest.raises(RuntimeError), session.begin():
        session.add(payment)
        payment.status = PaymentStatus.SIGNED
        session.flush()
        raise RuntimeError("crash before commit")
    assert len(_events(session, payment_id)) == 1
