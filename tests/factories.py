"""``make_*()`` test data, written through the ORM in the caller's transaction."""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from autopay_app.devtools import samples
from autopay_app.ledger import payments
from autopay_app.models import (
    Agent,
    ApiRequest,
    ApiType,
    AutonomyLevel,
    Currency,
    Payment,
    PaymentStatus,
    RequestStatus,
)

_seq = itertools.count(1)


def make_agent(session: Session, **kw: Any) -> Agent:
    n = next(_seq)
    agent = Agent(
        name=kw.pop("name", f"agent-{n}"),
        wallet_address=kw.pop("wallet_address", samples.fake_address(f"agent-{n}")),
        autonomy_level=kw.pop("autonomy_level", AutonomyLevel.PHASE1),
        **kw,
    )
    session.add(agent)
    session.flush()
    return agent


def make_request(session: Session, agent: Agent, **kw: Any) -> ApiRequest:
    url = kw.pop("url", "http://127.0.0.1:8402/api/market-feed")
    request = ApiRequest(
        agent_id=agent.id,
        endpoint=kw.pop("endpoint", "/api/market-feed"),
        url=url,
        api_type=kw.pop("api_type", ApiType.MARKET_DATA),
        status=kw.pop("status", RequestStatus.PENDING),
        **kw,
    )
    session.add(request)
    session.flush()
    return request


def make_payment(session: Session, request: ApiRequest, **kw: Any) -> Payment:
    n = next(_seq)
    payment = Payment(
        api_request_id=request.id,
        agent_id=request.agent_id,
        amount=kw.pop("amount", Decimal("0.01")),
        currency=kw.pop("currency", Currency.USDC),
        status=kw.pop("status", PaymentStatus.INITIATED),
        payer_signature=kw.pop("payer_signature", samples.fake_signature(f"p{n}")),
        **kw,
    )
    session.add(payment)
    session.flush()
    return payment


def make_terms(agent_id: uuid.UUID, **kw: Any) -> payments.Terms:
    """The terms of a 0.01 USDC payment, for the hot path's statements."""
    return payments.Terms(
        **{
            "agent_id": agent_id,
            "amount": Decimal("0.01"),
            "currency": "USDC",
            "amount_atomic": 10_000,
            "asset_mint": samples.USDC_DEVNET_MINT,
            "pay_to": samples.DEMO_SELLER,
            "network": samples.DEVNET,
            "facilitator_url": None,
            "x402_version": 2,
            **kw,
        }
    )


def query(session: Session, sql: str, **params: Any) -> Any:
    """Run ``sql`` in a transaction of its own and return the result rows."""
    import sqlalchemy as sa

    with session.begin():
        return session.execute(sa.text(sql), params).all()


def scalar(session: Session, sql: str, **params: Any) -> Any:
    rows = query(session, sql, **params)
    return rows[0][0] if rows else None
