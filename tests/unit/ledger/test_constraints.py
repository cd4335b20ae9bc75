"""Each database constraint refuses what it must."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from autopay_app.models import (
    AuditEvent,
    AuditEventType,
    RetryAttempt,
    RetryOutcome,
    WalletBalance,
)
from tests.factories import make_agent, make_payment, make_request, query, scalar


def _retry(request_id, n: int) -> RetryAttempt:  # type: ignore[no-untyped-def]
    return RetryAttempt(
        api_request_id=request_id,
        attempt_number=n,
        backoff_delay=timedelta(seconds=1),
        outcome=RetryOutcome.FAILURE,
    )


@pytest.mark.parametrize("number", [0, 4])
def test_attempt_number_outside_1_to_3_is_refused(session: Session, number: int) -> None:
    with session.begin():
        request = make_request(session, make_agent(session))
    with pytest.raises(IntegrityError, match="attempt_number_range"), session.begin():
        session.add(_retry(request.id, number))


def test_attempts_1_to_3_are_accepted_and_backoff_is_an_interval(session: Session) -> None:
    with session.begin():
        request = make_request(session, make_agent(session))
        session.add_all([_retry(request.id, n) for n in (1, 2, 3)])
    kind = scalar(session, "SELECT pg_typeof(backoff_delay)::text FROM retry_attempts LIMIT 1")
    assert kind == "interval"


def test_duplicate_payment_hash_is_refused(session: Session) -> None:
    with session.begin():
        request = make_request(session, make_agent(session))
        make_payment(session, request, payment_hash="5" * 88)
    with pytest.raises(IntegrityError, match="uq_payments_payment_hash"), session.begin():
        make_payment(session, request, payment_hash="5" * 88)


def test_unknown_enum_value_is_refused(session: Session) -> None:
    with session.begin():
        request = make_request(session, make_agent(session))
    with pytest.raises(DBAPIError, match="invalid input value for enum request_status"):
        with session.begin():
            session.execute(
                sa.text("UPDATE api_requests SET status = 'BOGUS' WHERE id = :i"), {"i": request.id}
            )


def test_one_balance_row_per_agent_and_wallet(session: Session) -> None:
    from datetime import UTC, datetime

    with session.begin():
        agent = make_agent(session)
    row = {
        "agent_id": agent.id,
        "wallet_address": agent.wallet_address,
        "threshold": 1,
        "last_checked": datetime.now(UTC),
    }
    with session.begin():
        session.add(WalletBalance(**row))
    with pytest.raises(IntegrityError, match="uq_wallet_balances_agent_wallet"), session.begin():
        session.add(WalletBalance(**row))


def _event(session: Session) -> AuditEvent:
    with session.begin():
        agent = make_agent(session)
        event = AuditEvent(agent_id=agent.id, event_type=AuditEventType.API_ACCESS, details={})
        session.add(event)
    return event


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET details = '{}'::jsonb",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "TRUNCATE audit_events_default",
    ],
)
def test_audit_events_are_append_only(session: Session, statement: str) -> None:
    _event(session)
    with pytest.raises(DBAPIError, match="append-only|permission denied"), session.begin():
        session.execute(sa.text(statement))
    assert scalar(session, "SELECT count(*) FROM audit_events") == 1


def test_audit_partitions_refuse_direct_delete_and_truncate(session: Session) -> None:
    event = _event(session)
    partition = scalar(
        session, "SELECT tableoid::regclass::text FROM audit_events WHERE id = :i", i=event.id
    )
    assert partition.startswith("audit_events_p")
    for statement in (f"DELETE FROM {partition}", f"TRUNCATE {partition}"):
        with pytest.raises(DBAPIError, match="append-only|permission denied"), session.begin():
            session.execute(sa.text(statement))


def test_money_records_are_not_deleted_with_their_parents(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
        payment_id = make_payment(session, make_request(session, agent)).id
    for statement in ("DELETE FROM api_requests", "DELETE FROM agents"):
        with pytest.raises(IntegrityError, match="fk_(api_requests|payments)_"), session.begin():
            session.execute(sa.text(statement))
    assert scalar(session, "SELECT count(*) FROM payments WHERE id = :i", i=payment_id) == 1


def test_updated_at_is_kept_by_a_trigger(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
    before = scalar(session, "SELECT updated_at FROM agents WHERE id = :i", i=agent.id)
    time.sleep(0.01)
    with session.begin():
        session.execute(
            sa.text("UPDATE agents SET is_active = false WHERE id = :i"), {"i": agent.id}
        )
    after = scalar(session, "SELECT updated_at FROM agents WHERE id = :i", i=agent.id)
    assert after > before
    triggers = scalar(
        session,
        "SELECT count(DISTINCT event_object_table) "
        "FROM information_schema.triggers WHERE trigger_name LIKE '%set_updated_at'",
    )
    assert triggers >= 8


def test_keys_default_to_gen_random_uuid_and_money_is_numeric_18_9(session: Session) -> None:
    rows = query(
        session,
        "SELECT table_name, column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' AND column_name = 'id' "
        "AND table_name !~ '_(p[0-9]{6}|default)$' AND table_name <> 'payment_ledger'",
    )
    assert len(rows) >= 8 and all(r[1] == "gen_random_uuid()" for r in rows)
    money = query(
        session,
        "SELECT numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_name = 'payments' AND column_name = 'amount'",
    )[0]
    assert tuple(money) == (18, 9)
    stamp = scalar(
        session,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'payments' AND column_name = 'created_at'",
    )
    assert stamp == "timestamp with time zone"


def test_mainnet_flag_is_reserved_and_false(session: Session) -> None:
    with session.begin():
        payment = make_payment(session, make_request(session, make_agent(session)))
    flag = scalar(session, "SELECT mainnet_flag FROM payments WHERE id = :i", i=payment.id)
    assert flag is False
