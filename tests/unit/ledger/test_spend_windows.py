"""Spend windows come from per-minute sums the database keeps; caps use them under the lock."""

from __future__ import annotations

import importlib.util
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app import MIGRATIONS_DIR
from autopay_app.ledger import direct, payments, policies, spend
from autopay_app.models import PaymentStatus
from tests.factories import make_agent, make_payment, make_request, make_terms, query, scalar


def _windows(session: Session, agent_id, endpoint=None) -> tuple[Decimal, Decimal]:  # type: ignore[no-untyped-def]
    with session.begin():
        return spend.windows(session, agent_id, endpoint)


def _migration_0007():  # type: ignore[no-untyped-def]
    path = MIGRATIONS_DIR / "versions" / "0007_spend_minutes.py"
    spec = importlib.util.spec_from_file_location("migration_0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exec(session: Session, sql: str, **params: object) -> None:
    with session.begin():
        session.execute(sa.text(sql), params)


def test_payments_count_until_they_fail_and_stop_counting_when_deleted(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
        feed = make_request(session, agent)
        other = make_request(session, agent, endpoint="/api/knowledge/insights")
        first = make_payment(session, feed, amount=Decimal("0.25"))
        second = make_payment(session, other, amount=Decimal("0.5"))
        make_payment(session, feed, amount=Decimal("9"), status=PaymentStatus.FAILED)
    assert _windows(session, agent.id) == (Decimal("0.75"), Decimal("0.75"))
    assert _windows(session, agent.id, "/api/market-feed") == (Decimal("0.25"), Decimal("0.25"))

    _exec(session, "UPDATE payments SET status = 'VERIFIED' WHERE id = :i", i=first.id)
    assert _windows(session, agent.id) == (Decimal("0.75"), Decimal("0.75"))  # still spent
    _exec(session, "UPDATE payments SET status = 'FAILED' WHERE id = :i", i=second.id)
    assert _windows(session, agent.id) == (Decimal("0.25"), Decimal("0.25"))  # released
    _exec(session, "DELETE FROM payments WHERE id = :i", i=first.id)
    assert _windows(session, agent.id) == (Decimal(0), Decimal(0))


def test_a_payment_older_than_an_hour_counts_for_the_day_only(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
        payment = make_payment(session, make_request(session, agent), amount=Decimal("1"))
    _exec(
        session,
        "UPDATE payments SET created_at = now() - interval '2 hours' WHERE id = :i",
        i=payment.id,
    )
    assert _windows(session, agent.id) == (Decimal(0), Decimal("1"))
    _exec(
        session,
        "UPDATE payments SET created_at = now() - interval '25 hours' WHERE id = :i",
        i=payment.id,
    )
    assert _windows(session, agent.id) == (Decimal(0), Decimal(0))
    rows = query(session, "SELECT amount FROM spend_minutes WHERE amount <> 0")
    assert [r[0] for r in rows] == [Decimal("1")]  # moved to its minute, not duplicated


def test_reserve_refuses_what_would_exceed_a_cap_and_sees_committed_payments(
    session: Session,
) -> None:
    engine = session.get_bind()
    with session.begin():
        agent = make_agent(session)
        request = make_request(session, agent)
        make_payment(session, request, amount=Decimal("0.75"))
    policies.get_or_create(session, agent.id)
    policies.update(session, agent.id, per_request_cap=1, hourly_cap=1, daily_cap=5)

    def reserve(amount: str) -> payments.Reservation:
        ref = payments.PaymentRef(uuid.uuid4(), request.id, "test")
        terms = replace(make_terms(agent.id), amount=Decimal(amount))
        with direct.transaction(engine) as conn:
            return payments.reserve(conn, ref, terms, endpoint="/x")

    held = reserve("0.25")
    assert (held.spent_hour, held.spent_day) == (Decimal("0.75"), Decimal("0.75"))
    with pytest.raises(spend.CapExceeded, match="hourly cap"):
        reserve("0.01")  # the reservation above counts now
    amounts = query(session, "SELECT amount FROM payments ORDER BY amount")
    assert [a for (a,) in amounts] == [Decimal("0.25"), Decimal("0.75")]  # refused: no row


def test_backfill_sums_existing_payments_per_minute_and_endpoint(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
        request = make_request(session, agent)
        for amount in ("0.1", "0.2"):
            make_payment(session, request, amount=Decimal(amount))
    kept = query(session, "SELECT agent_id, minute, endpoint, amount FROM spend_minutes")
    _exec(session, "DELETE FROM spend_minutes")
    _exec(session, _migration_0007().BACKFILL)
    assert query(session, "SELECT agent_id, minute, endpoint, amount FROM spend_minutes") == kept


def test_a_reservation_waiting_for_the_lock_sees_the_one_committed_meanwhile(
    session: Session,
) -> None:
    """The lock and the read are one statement: the read's snapshot is taken after the
    lock is granted, so a reservation committed while it waited counts against the cap."""
    engine = session.get_bind()
    assert isinstance(engine, sa.Engine)
    with session.begin():
        agent = make_agent(session)
        request = make_request(session, agent)
    policies.get_or_create(session, agent.id)
    policies.update(session, agent.id, per_request_cap=1, hourly_cap=1, daily_cap=5)
    terms = replace(make_terms(agent.id), amount=Decimal("0.6"))

    def reserve() -> payments.Reservation:
        ref = payments.PaymentRef(uuid.uuid4(), request.id, "test")
        with direct.autocommit(engine) as conn:
            return payments.reserve(conn, ref, terms, endpoint="/x", flush=False)

    with ThreadPoolExecutor(1) as pool:
        with direct.transaction(engine) as first:
            first_ref = payments.PaymentRef(uuid.uuid4(), request.id, "t")
            payments.reserve(first, first_ref, terms, endpoint="/x")
            waiting = pool.submit(reserve)
            with direct.autocommit(engine) as watch:  # the second one waits for the lock
                blocked = 0
                for _ in range(500):
                    (blocked,) = watch.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    ).fetchone() or (0,)
                    if blocked:
                        break
                    time.sleep(0.01)
            assert blocked == 1 and not waiting.done()
        with pytest.raises(spend.CapExceeded, match="hourly cap 1.*: 0.6"):
            waiting.result(timeout=10)
    amounts = query(session, "SELECT amount, status::text FROM payments")
    assert amounts == [(Decimal("0.6"), "INITIATED")]


def test_the_ledger_and_checked_agree_on_every_cap(session: Session) -> None:
    """The statement decides; :func:`spend.checked` words its refusal: both use the same rules
    (a cap may be reached, not passed; an API's own caps; an unsettled earlier payment)."""
    engine = session.get_bind()
    assert isinstance(engine, sa.Engine)
    with session.begin():
        agent = make_agent(session)
        request = make_request(session, agent, endpoint="/x")
        make_payment(session, request, amount=Decimal("0.5"))
    policies.get_or_create(session, agent.id)
    policies.update(
        session,
        agent.id,
        per_request_cap=1,
        hourly_cap=3,
        daily_cap=3,
        api_caps={"/x": {"hourly": "1.2", "daily": None}},
    )

    def reserve(amount: str, endpoint: str = "/x", url: str | None = None) -> None:
        ref = payments.PaymentRef(uuid.uuid4(), request.id, "test")
        terms = replace(make_terms(agent.id), amount=Decimal(amount))
        with direct.autocommit(engine) as conn:
            payments.reserve(conn, ref, terms, endpoint=endpoint, url=url)

    with pytest.raises(spend.CapExceeded, match="per-request cap"):
        reserve("1.01")
    with pytest.raises(spend.CapExceeded, match="hourly cap 1.2 for /x"):
        reserve("0.71")
    reserve("0.7")  # exactly the API's hourly cap
    reserve("1", endpoint="/y")  # another API: only the agent's caps
    with pytest.raises(spend.CapExceeded, match="hourly cap 3"):
        reserve("0.81", endpoint="/y")
    _exec(session, "UPDATE spend_policies SET hourly_cap = 10 WHERE agent_id = :a", a=agent.id)
    with pytest.raises(spend.CapExceeded, match="daily cap 3"):
        reserve("0.81", endpoint="/y")
    _exec(session, "UPDATE api_requests SET status = 'FAILED' WHERE id = :r", r=request.id)
    _exec(session, "UPDATE payments SET status = 'SIGNED' WHERE amount = 0.5")
    with pytest.raises(spend.Unsettled):
        reserve("0.01", endpoint="/y", url=request.url)
    _exec(session, "DELETE FROM spend_policies WHERE agent_id = :a", a=agent.id)
    with pytest.raises(spend.CapExceeded, match="no spend policy"):
        reserve("0.01")
    assert scalar(session, "SELECT count(*) FROM payments") == 3
