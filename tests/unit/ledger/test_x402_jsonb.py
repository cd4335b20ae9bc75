"""x402_instructions JSONB round-trips a real x402 v2 PaymentRequired and is indexed (GIN)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session
from x402.schemas import PaymentRequired

from autopay_app.devtools import samples
from autopay_app.models import ApiRequest
from tests.factories import make_agent, make_request, query


def _document() -> dict:
    doc = samples.payment_required("http://127.0.0.1:8402/api/market-feed", amount_atomic=12_345)
    # Through the SDK's own model: what the SDK accepts and emits is what we store.
    return PaymentRequired.model_validate(doc).model_dump(by_alias=True, exclude_none=True)


def test_payment_required_round_trips(session: Session) -> None:
    doc = _document()
    with session.begin():
        request = make_request(session, make_agent(session), x402_instructions=doc)
    session.expunge_all()
    with session.begin():
        stored = session.get(ApiRequest, request.id).x402_instructions
    assert stored == doc
    assert PaymentRequired.model_validate(stored).accepts[0].amount == "12345"


def test_instructions_are_found_through_the_gin_index(session: Session) -> None:
    doc = _document()
    with session.begin():
        agent = make_agent(session)
        make_request(session, agent, x402_instructions=doc)
        for i in range(50):
            make_request(
                session,
                agent,
                x402_instructions=samples.payment_required(
                    f"http://127.0.0.1:8402/other/{i}", amount_atomic=i
                ),
            )
    probe = '{"accepts": [{"amount": "12345"}]}'
    with session.begin():
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        found = session.execute(
            sa.text(
                "SELECT count(*) FROM api_requests WHERE x402_instructions @> CAST(:p AS jsonb)"
            ),
            {"p": probe},
        ).scalar_one()
        plan = [
            r[0]
            for r in session.execute(
                sa.text(
                    "EXPLAIN SELECT id FROM api_requests "
                    "WHERE x402_instructions @> CAST(:p AS jsonb)"
                ),
                {"p": probe},
            )
        ]
    assert found == 1
    assert any("ix_api_requests_x402_instructions" in line for line in plan), plan
    assert (
        query(
            session,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_api_requests_x402_instructions'",
        )[0][0].count("gin")
        == 1
    )
