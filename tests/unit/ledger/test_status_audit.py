"""Status changes audit themselves: one event per change, whatever path made it.

The triggers of migration 0011 write the events; the application only names the
actor and the context of its transaction (:mod:`autopay_app.ledger.audit`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from autopay_app.ledger import audit, direct, payments, policies, requests_log, roles, spend
from autopay_app.ledger.backup import libpq_url
from autopay_app.models import ApiType, ConfirmationStatus, PaymentStatus, RequestStatus
from tests.factories import make_agent, make_payment, make_request, make_terms, query

X402: tuple[dict[str, Any], dict[str, Any]] = ({"x402Version": 2, "accepts": []}, {"h": "v"})


def _events(session: Session, related_id: uuid.UUID) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (kind, severity, details)
        for kind, severity, details in query(
            session,
            "SELECT event_type::text, severity::text, details FROM audit_events "
            "WHERE related_id = :r ORDER BY created_at",
            r=related_id,
        )
    ]


def _moves(session: Session, related_id: uuid.UUID) -> list[tuple[str | None, str]]:
    return [(d["from"], d["to"]) for _, _, d in _events(session, related_id)]


def test_a_raw_update_writes_exactly_one_event(session: Session, database_url: str) -> None:
    with session.begin():
        payment = make_payment(session, make_request(session, make_agent(session)))
    # As psql would: the login user, no application settings.
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE payments SET status = 'SIGNED' WHERE id = %s", (payment.id,))
        conn.execute("UPDATE payments SET memo = 'not a status' WHERE id = %s", (payment.id,))
        conn.execute("UPDATE payments SET status = 'SIGNED' WHERE id = %s", (payment.id,))
        (login,) = conn.execute("SELECT session_user").fetchone() or ("",)
    events = _events(session, payment.id)
    assert _moves(session, payment.id) == [(None, "INITIATED"), ("INITIATED", "SIGNED")]
    kind, severity, details = events[-1]
    assert (kind, severity) == ("PAYMENT_STATUS", "INFO")
    assert details["actor"] == f"db:{login}" and details["payment_id"] == str(payment.id)


def test_the_app_names_the_actor_and_the_context_but_not_the_facts(session: Session) -> None:
    with session.begin():
        payment = make_payment(session, make_request(session, make_agent(session)))
    with session.begin():
        audit.tag(session, "dashboard:admin", {"why": "a test", "to": "FORGED"})
        session.add(payment)
        payment.status = PaymentStatus.VERIFIED
    kind, severity, details = _events(session, payment.id)[-1]
    assert (kind, severity) == ("PAYMENT_SUCCESS", "INFO")
    assert details["actor"] == "dashboard:admin" and details["why"] == "a test"
    assert details["to"] == "VERIFIED"  # the row's own facts win over the context


def test_request_statuses_have_their_events(session: Session, database_url: str) -> None:
    with session.begin():
        agent = make_agent(session)
        failing = make_request(session, agent)
        free = make_request(session, agent)
        raw = make_request(session, agent)
    with session.begin():
        session.add(failing)
        failing.status = RequestStatus.PAYMENT_REQUIRED
    requests_log.fail(
        session, failing.id, "NETWORK", "seller unreachable", x402_reason="x", actor="agent:t"
    )
    requests_log.record_free_access(session, free.id, {"a": 1}, 200, {}, 12, actor="agent:t")
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("UPDATE api_requests SET status = 'FAILED' WHERE id = %s", (raw.id,))

    events = _events(session, failing.id)
    assert [(k, s) for k, s, _ in events] == [
        ("REQUEST_STATUS", "INFO"),
        ("REQUEST_STATUS", "INFO"),
        ("NETWORK_ISSUE", "WARNING"),
    ]
    failure = events[-1][2]
    assert (failure["from"], failure["to"], failure["category"]) == (
        "PAYMENT_REQUIRED",
        "FAILED",
        "NETWORK",
    )
    assert failure["message"] == "seller unreachable" and failure["x402_reason"] == "x"
    assert failure["endpoint"] == failing.endpoint and failure["actor"] == "agent:t"
    kind, _, access = _events(session, free.id)[-1]
    assert kind == "API_ACCESS" and (access["http_status"], access["latency_ms"]) == (200, 12)
    assert access["url"] == free.url and access["from"] == "PENDING"
    kind, severity, unexplained = _events(session, raw.id)[-1]
    assert (kind, severity, unexplained["category"]) == ("PAYMENT_FAILURE", "ERROR", "UNKNOWN")


def test_the_hot_path_audits_each_transition_once(session: Session) -> None:
    engine = session.get_bind()
    assert isinstance(engine, sa.Engine)
    with session.begin():
        agent = make_agent(session)
    actor = f"agent:{agent.name}"
    with direct.autocommit(engine) as conn:
        request_id = requests_log.open_request(
            conn, actor, agent.id, "http://s/api/x", "/api/x", ApiType.MARKET_DATA, None
        )
    policies.get_or_create(session, agent.id)
    ref = payments.PaymentRef(uuid.uuid4(), request_id, actor)
    payer = "PayerWa11et1111111111111111111111111111111"
    signed = payments.SignedBytes("sig-1", "memo-1", "dHg=", 100, None, payer)
    with direct.transaction(engine) as conn:
        payments.reserve(conn, ref, make_terms(agent.id), endpoint="/api/x", flush=False)
        payments.sign_ahead(conn, ref, signed)
    with direct.autocommit(engine) as conn:
        payments.mark_paid(conn, ref, ({"x402Version": 2}, {"h": "v"}))
    # The write-ahead keeps who paid (a person's wallet in Phase 2), for reconciliation.
    with engine.connect() as read:
        stored = read.execute(
            sa.text("SELECT payer_address, signed_transaction FROM payments WHERE id = :id"),
            {"id": ref.payment_id},
        ).one()
    assert tuple(stored) == (payer, "dHg=")
    delivery = payments.Delivery({"data": 1}, 200, {"h": "v"}, 7)
    with direct.autocommit(engine) as conn:
        assert payments.mark_confirmed(
            conn, ref, payment_hash="tx-1", receipt={}, delivery=delivery
        )
        assert payments.mark_verified(
            conn, ref, metadata={}, level=ConfirmationStatus.CONFIRMED, fee_lamports=5000
        )
        # Settled again (reconciliation racing the flow): no transition, no event.
        assert payments.mark_confirmed(conn, ref, payment_hash="tx-1", receipt=None)

    assert _moves(session, ref.payment_id) == [
        (None, "INITIATED"),
        ("INITIATED", "SIGNED"),
        ("SIGNED", "CONFIRMED"),
        ("CONFIRMED", "VERIFIED"),
    ]
    assert _moves(session, request_id) == [
        (None, "PENDING"),
        ("PENDING", "PAID"),
        ("PAID", "ACCESSED"),
    ]
    access = _events(session, request_id)[-1]
    assert access[0] == "API_ACCESS" and access[2]["payment_hash"] == "tx-1"
    actors = {
        d["actor"] for rid in (ref.payment_id, request_id) for _, _, d in _events(session, rid)
    }
    assert actors == {actor}


def test_a_signature_mismatch_is_one_payment_failure(session: Session) -> None:
    with session.begin():
        payment = make_payment(
            session, make_request(session, make_agent(session)), status=PaymentStatus.CONFIRMED
        )
    payments.mark_failed(
        session,
        payment.id,
        "SIGNATURE_INVALID",
        "the chain disagrees",
        actor="agent:t",
        details={"payment_hash": "tx-9"},
    )
    failures = [e for e in _events(session, payment.id) if e[0] == "PAYMENT_FAILURE"]
    assert len(failures) == 1
    _, severity, details = failures[0]
    assert severity == "ERROR" and details["category"] == "SIGNATURE_INVALID"
    assert (details["from"], details["to"], details["message"]) == (
        "CONFIRMED",
        "FAILED",
        "the chain disagrees",
    )


def test_the_app_role_cannot_skip_or_rewrite_status_events(session: Session) -> None:
    assert roles.current_role(session) == roles.APP
    session.rollback()
    with session.begin():
        payment = make_payment(session, make_request(session, make_agent(session)))
    for table in ("payments", "api_requests"):
        with pytest.raises(DBAPIError, match="must be owner"), session.begin():
            session.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    with pytest.raises(DBAPIError, match="permission denied"), session.begin():
        session.execute(sa.text("UPDATE audit_events SET details = '{}'::jsonb"))
    with session.begin():
        session.add(payment)
        payment.status = PaymentStatus.FAILED
    assert _moves(session, payment.id) == [(None, "INITIATED"), ("INITIATED", "FAILED")]


@dataclass(frozen=True)
class _Opened:
    """An agent with a spend policy and one request PENDING on the hot path."""

    engine: sa.Engine
    agent_id: uuid.UUID
    ref: payments.PaymentRef


def _opened(session: Session, **caps: str) -> _Opened:
    engine = session.get_bind()
    assert isinstance(engine, sa.Engine)
    with session.begin():
        agent = make_agent(session)
    actor = f"agent:{agent.name}"
    policies.get_or_create(session, agent.id)
    if caps:
        policies.update(session, agent.id, **caps)
    with direct.autocommit(engine) as conn:
        request_id = requests_log.open_request(
            conn, actor, agent.id, "http://s/api/x", "/api/x", ApiType.MARKET_DATA, None
        )
    return _Opened(engine, agent.id, payments.PaymentRef(uuid.uuid4(), request_id, actor))


def test_bytes_signed_before_the_lock_are_reserved_signed_in_one_statement(
    session: Session,
) -> None:
    """The agent's own key signs first: one statement reserves, writes the payment SIGNED
    with its bytes (one status, one event) and the request PAID with its 402."""
    opened = _opened(session)
    ref, request_id = opened.ref, opened.ref.request_id
    signed = payments.SignedBytes("sig-2", "memo-2", "dHg=", 100, "pid-2")
    with direct.autocommit(opened.engine) as conn:
        held = payments.write_ahead(
            conn, ref, make_terms(opened.agent_id), signed, endpoint="/api/x", url=None, x402=X402
        )
        assert (held.spent_hour, held.spent_day) == (0, 0)
        # One durable commit: the statement left the session's synchronous_commit alone.
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    stored = query(
        session,
        "SELECT status::text, payer_signature, memo, signed_transaction, "
        "last_valid_block_height, payment_identifier, payer_address FROM payments WHERE id = :i",
        i=ref.payment_id,
    )
    assert [tuple(r) for r in stored] == [("SIGNED", "sig-2", "memo-2", "dHg=", 100, "pid-2", None)]
    assert _moves(session, ref.payment_id) == [(None, "SIGNED")]
    assert {d["actor"] for _, _, d in _events(session, ref.payment_id)} == {ref.actor}
    assert _moves(session, request_id) == [(None, "PENDING"), ("PENDING", "PAID")]
    paid = query(
        session,
        "SELECT http_status, x402_instructions, response_headers FROM api_requests WHERE id = :i",
        i=request_id,
    )
    assert [tuple(r) for r in paid] == [(402, X402[0], {"402": X402[1]})]


def test_a_refused_write_ahead_writes_nothing(session: Session) -> None:
    """Over a cap the one statement refuses: no payment, and the request is not PAID (no
    402 stored either): a request is PAID only beside its payment."""
    opened = _opened(session, per_request_cap="0.001")
    signed = payments.SignedBytes("sig-3", "memo-3", "dHg=", 100, None)
    terms = make_terms(opened.agent_id)
    with direct.autocommit(opened.engine) as conn:
        with pytest.raises(spend.CapExceeded, match="per-request cap"):
            payments.write_ahead(
                conn, opened.ref, terms, signed, endpoint="/api/x", url=None, x402=X402
            )
    assert query(session, "SELECT count(*) FROM payments") == [(0,)]
    left = query(
        session,
        "SELECT status::text, http_status, x402_instructions FROM api_requests WHERE id = :i",
        i=opened.ref.request_id,
    )
    assert [tuple(r) for r in left] == [("PENDING", None, None)]
    assert _moves(session, opened.ref.request_id) == [(None, "PENDING")]


def test_the_delivery_is_durable_and_the_verification_after_it_is_audited(
    session: Session,
) -> None:
    """The delivery (the data a fetch returns) commits durably: the WAL is flushed past
    what was written before it when mark_confirmed returns. VERIFIED, written after the
    data is returned, need not wait for the flush: the same transitions and events, the
    session's synchronous_commit untouched."""
    opened = _opened(session)
    ref = opened.ref
    signed = payments.SignedBytes("sig-4", "memo-4", "dHg=", 100, None)
    delivery = payments.Delivery({"data": 4}, 200, {"h": "v"}, 3)
    with direct.autocommit(opened.engine) as conn:
        payments.write_ahead(
            conn, ref, make_terms(opened.agent_id), signed, endpoint="/api/x", url=None
        )
        (before,) = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone() or ("",)
        assert payments.mark_confirmed(
            conn, ref, payment_hash="tx-4", receipt={}, delivery=delivery
        )
        flushed = conn.execute(
            "SELECT pg_current_wal_flush_lsn() > %s::pg_lsn", (before,)
        ).fetchone()
        assert payments.mark_verified(
            conn, ref, metadata={}, level=ConfirmationStatus.CONFIRMED, fee_lamports=1
        )
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    assert flushed == (True,)
    assert _moves(session, ref.payment_id) == [
        (None, "SIGNED"),
        ("SIGNED", "CONFIRMED"),
        ("CONFIRMED", "VERIFIED"),
    ]
    assert _moves(session, ref.request_id) == [
        (None, "PENDING"),
        ("PENDING", "PAID"),
        ("PAID", "ACCESSED"),
    ]
    accessed = query(
        session, "SELECT data_accessed FROM api_requests WHERE id = :i", i=ref.request_id
    )
    assert accessed == [({"data": 4},)]


def test_a_deferred_verification_is_recorded_durably(session: Session) -> None:
    """The chain could not be read back: one NETWORK_ISSUE event on the payment (no status
    change), in a durable commit."""
    opened = _opened(session)
    ref = opened.ref
    signed = payments.SignedBytes("sig-5", "memo-5", "dHg=", 100, None)
    delivery = payments.Delivery({"data": 5}, 200, {}, 3)
    with direct.autocommit(opened.engine) as conn:
        payments.write_ahead(
            conn, ref, make_terms(opened.agent_id), signed, endpoint="/api/x", url=None
        )
        assert payments.mark_confirmed(
            conn, ref, payment_hash="tx-5", receipt={}, delivery=delivery
        )
        (before,) = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone() or ("",)
        assert payments.verification_deferred(conn, ref, "rpc down")
        flushed = conn.execute(
            "SELECT pg_current_wal_flush_lsn() > %s::pg_lsn", (before,)
        ).fetchone()
    assert flushed == (True,)
    kind, severity, details = _events(session, ref.payment_id)[-1]
    assert (kind, severity) == ("NETWORK_ISSUE", "WARNING")
    assert (details["status"], details["payment_hash"], details["message"]) == (
        "CONFIRMED",
        "tx-5",
        "rpc down",
    )
    assert details["actor"] == ref.actor and "from" not in details
    kinds = [k for k, _, _ in _events(session, ref.payment_id)]
    assert kinds == ["PAYMENT_STATUS", "PAYMENT_STATUS", "NETWORK_ISSUE"]  # SIGNED, CONFIRMED
    other = payments.PaymentRef(uuid.uuid4(), ref.request_id, ref.actor)
    with direct.autocommit(opened.engine) as conn:
        assert not payments.verification_deferred(conn, other, "no such payment")
