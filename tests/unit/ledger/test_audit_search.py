"""The audit search finds what it found before its index got cheaper (migration 0017).

The GIN index leaves the status events' own ids out of its words; whatever a
real search found with 0001's index over every string of ``details`` it still
finds: a payment's signature, a request's URL and endpoint, a failure's message,
and a whole payment or request id (through ``related_id``). The search runs on
the index, and the migration goes down to 0001's index and up again.
"""

from __future__ import annotations

import uuid

import psycopg
import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.devtools import samples, scratch
from autopay_app.ledger import direct, payments, policies, requests_log
from autopay_app.ledger.backup import libpq_url
from autopay_app.ledger.queries import AuditFilter, audit_page, audit_select, explain
from autopay_app.models import ApiType, AuditEventType, ConfirmationStatus, Severity
from tests.factories import make_agent, make_terms, query

URL = "http://127.0.0.1:8402/api/market-feed"
ENDPOINT = "/api/market-feed"
#: 0001's expression: what the search matched before 0017.
BEFORE = "to_tsvector('simple', details) @@ websearch_to_tsquery('simple', :q)"


def _paid_request(engine: sa.Engine, agent_id: uuid.UUID, signature: str) -> payments.PaymentRef:
    """A paid request as the agent writes it: six status changes, six events."""
    actor = "agent:search"
    with direct.autocommit(engine) as conn:
        request_id = requests_log.open_request(
            conn, actor, agent_id, URL, ENDPOINT, ApiType.MARKET_DATA, None
        )
    ref = payments.PaymentRef(uuid.uuid4(), request_id, actor)
    signed = payments.SignedBytes(
        samples.fake_signature(f"payer-{ref.payment_id}"), ref.payment_id.hex, "dHg=", 100, None
    )
    with direct.autocommit(engine) as conn:
        payments.reserve(conn, ref, make_terms(agent_id), endpoint=ENDPOINT, signed=signed)
        payments.mark_paid(conn, ref, ({"x402Version": 2}, {"h": "v"}))
        delivery = payments.Delivery({"data": 1}, 200, {"h": "v"}, 7)
        assert payments.mark_confirmed(
            conn, ref, payment_hash=signature, receipt={}, delivery=delivery
        )
        assert payments.mark_verified(
            conn, ref, metadata={}, level=ConfirmationStatus.CONFIRMED, fee_lamports=5000
        )
    return ref


def _found(session: Session, text: str) -> set[uuid.UUID]:
    with session.begin():
        return {e.id for e in audit_page(session, AuditFilter(text=text, limit=1000))}


def _found_before(session: Session, text: str) -> set[uuid.UUID]:
    return {row[0] for row in query(session, f"SELECT id FROM audit_events WHERE {BEFORE}", q=text)}


def test_real_searches_find_what_they_found_before(session: Session) -> None:
    engine = session.get_bind()
    assert isinstance(engine, sa.Engine)
    with session.begin():
        agent = make_agent(session)
    policies.get_or_create(session, agent.id)
    signature = samples.fake_signature("search-paid")
    ref = _paid_request(engine, agent.id, signature)
    _paid_request(engine, agent.id, samples.fake_signature("search-other"))
    with direct.autocommit(engine) as conn:
        failed = requests_log.open_request(
            conn, "agent:search", agent.id, URL, ENDPOINT, ApiType.MARKET_DATA, None
        )
    requests_log.fail(
        session, failed, "NETWORK", "seller unreachable after 3 attempts", actor="agent:search"
    )

    by_signature = _found(session, signature)
    assert len(by_signature) == 3  # CONFIRMED, VERIFIED (the payment), ACCESSED (the request)
    assert len(_found(session, ENDPOINT)) == 2 * 3 + 2  # each request's events
    by_message = _found(session, "seller unreachable")
    assert len(by_message) == 1
    by_payment = _found(session, str(ref.payment_id))
    assert len(by_payment) == 3  # SIGNED, CONFIRMED, VERIFIED
    by_request = _found(session, str(ref.request_id))
    assert len(by_request) == 3 + 3  # the request's PENDING, PAID, ACCESSED and its payment's
    for text, found in (
        (signature, by_signature),
        (ENDPOINT, _found(session, ENDPOINT)),
        ("127.0.0.1:8402/api/market-feed", _found(session, "127.0.0.1:8402/api/market-feed")),
        (f'"{URL}"', _found(session, f'"{URL}"')),
        ("seller unreachable", by_message),
        ('"after 3 attempts" -timeout', _found(session, '"after 3 attempts" -timeout')),
        ("NETWORK", _found(session, "NETWORK")),
        ("agent:search verified", _found(session, "agent:search verified")),
        (str(ref.payment_id), by_payment),
        (str(ref.request_id), by_request),
        (f'"{ref.payment_id}"', _found(session, f'"{ref.payment_id}"')),
    ):
        assert found == _found_before(session, text), text
        assert found, text
    # A pasted URL, scheme and all, finds its request's events (0001's index found none).
    assert _found(session, URL) == _found(session, f'"{URL}"')
    assert _found(session, f"{URL} -timeout") == _found(session, ENDPOINT)


def test_a_search_with_other_filters_keeps_them(session: Session) -> None:
    engine = session.get_bind()
    assert isinstance(engine, sa.Engine)
    with session.begin():
        agent, other = make_agent(session), make_agent(session)
    for a in (agent, other):
        policies.get_or_create(session, a.id)
    ref = _paid_request(engine, agent.id, samples.fake_signature("filtered"))
    with session.begin():
        events = audit_page(
            session,
            AuditFilter(
                agent_id=agent.id,
                event_type=AuditEventType.PAYMENT_SUCCESS,
                severity=Severity.INFO,
                text=str(ref.request_id),
            ),
        )
    assert [e.related_id for e in events] == [ref.payment_id]
    with session.begin():
        assert audit_page(session, AuditFilter(agent_id=other.id, text=str(ref.payment_id))) == []


def test_searches_run_on_the_indexes(session: Session) -> None:
    with session.begin():
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        fts = {
            r[0]
            for r in session.execute(
                sa.text(
                    "SELECT i.inhrelid::regclass::text FROM pg_inherits i "
                    "WHERE i.inhparent = 'ix_audit_events_details_fts'::regclass"
                )
            )
        }
        words = "\n".join(explain(session, audit_select(AuditFilter(text="seller unreachable"))))
        ids = "\n".join(explain(session, audit_select(AuditFilter(text=str(uuid.uuid4())))))
    assert fts and any(name in words for name in fts), words
    assert any(name in ids for name in fts) and "related_id" in ids, ids
    assert "Seq Scan on audit_events" not in ids


def _index(url: str) -> str:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_audit_events_details_fts'"
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_audit_search_index_migration_goes_down_and_up(server_url: str) -> None:
    url = scratch.create_database(server_url, "autopay_audit_fts_updown")
    try:
        scratch.migrate(url)
        assert "payment_id" in _index(url) and "api_request_id" in _index(url)
        scratch.migrate(url, "0016", down=True)
        assert _index(url) == (
            "CREATE INDEX ix_audit_events_details_fts ON ONLY public.audit_events "
            "USING gin (to_tsvector('simple'::regconfig, details))"
        )
        scratch.migrate(url)
        assert "payment_id" in _index(url)
    finally:
        scratch.drop_database(server_url, "autopay_audit_fts_updown")
