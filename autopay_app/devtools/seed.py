"""Demo data for ``autopay seed``: enough for every dashboard view to show something.

One agent with a history over the last two days: paid and accessed requests in
both assets and both API types (with transaction logs), a request still waiting
at its 402, a failure with retries and its classification, a low balance, a
circuit breaker that opened and closed, and a network issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.devtools import samples
from autopay_app.ledger import audit
from autopay_app.models import (
    Agent,
    ApiRequest,
    ApiType,
    AuditEvent,
    AuditEventType,
    AutonomyLevel,
    CircuitBreaker,
    ConfirmationStatus,
    Currency,
    ErrorCategory,
    ErrorClassification,
    Payment,
    PaymentStatus,
    RequestStatus,
    RetryAttempt,
    RetryOutcome,
    Severity,
    TransactionLog,
    WalletBalance,
)

DEMO_AGENT = "DemoAutopayAgent"
#: The actor of the demo rows' status events.
ACTOR = "autopay seed"
ENDPOINTS = (
    ("/api/market-feed", ApiType.MARKET_DATA, Decimal("0.010")),
    ("/api/arbitrage-signals", ApiType.MARKET_DATA, Decimal("0.025")),
    ("/api/knowledge/insights", ApiType.KNOWLEDGE_DATA, Decimal("0.050")),
    ("/api/knowledge/sentiment", ApiType.KNOWLEDGE_DATA, Decimal("0.020")),
)


@dataclass(frozen=True)
class SeedReport:
    created: bool
    agent: str
    requests: int = 0
    payments: int = 0


def _paid(session: Session, agent: Agent, i: int, now: datetime) -> None:
    path, api_type, price = ENDPOINTS[i % len(ENDPOINTS)]
    currency = Currency.USDC if i % 3 else Currency.CASH
    url = f"http://127.0.0.1:8402{path}"
    doc = samples.payment_required(url, amount_atomic=int(price * 10**6))
    sig = samples.fake_signature(f"demo-{i}")
    when = now - timedelta(minutes=(12 - i) * 170)  # the last ~34 hours, most within a day
    request = ApiRequest(
        agent_id=agent.id,
        endpoint=path,
        url=url,
        api_type=api_type,
        http_status=200,
        x402_instructions=doc,
        response_headers={"PAYMENT-RESPONSE": "..."},
        data_accessed={"as_of": when.isoformat(), "ttl_seconds": 60, "sample": i},
        status=RequestStatus.ACCESSED,
        latency_ms=40 + i,
        created_at=when,
    )
    payment = Payment(
        api_request=request,
        agent_id=agent.id,
        amount=price,
        currency=currency,
        facilitator_url="http://127.0.0.1:8403",
        payment_hash=sig,
        payer_signature=samples.fake_signature(f"payer-{i}"),
        memo=f"demo-memo-{i}",
        status=PaymentStatus.VERIFIED,
        network=samples.DEVNET,
        asset_mint=samples.USDC_DEVNET_MINT,
        amount_atomic=int(price * 10**6),
        pay_to=samples.DEMO_SELLER,
        x402_version=2,
        created_at=when,
        verification_callback={"success": True, "transaction": sig, "network": samples.DEVNET},
    )
    log = TransactionLog(
        payment=payment,
        confirmation_status=ConfirmationStatus.FINALIZED,
        gas_fees=Decimal(10000),
        solana_tx_metadata=samples.transaction_metadata(
            sig,
            slot=1000 + i * 50,
            amount_atomic=int(price * 10**6),
            mint=samples.USDC_DEVNET_MINT,
            payer=agent.wallet_address,
            pay_to=samples.DEMO_SELLER,
        ),
    )
    session.add_all([request, payment, log])


def _failed(session: Session, agent: Agent, now: datetime) -> None:
    session.flush()  # the paid requests above, audited without this failure's context
    context = {"category": "SELLER_5XX", "message": "seller answered 503 three times"}
    audit.tag(session, ACTOR, context | {"error": "facilitator unavailable", "attempts": 3})
    request = ApiRequest(
        agent_id=agent.id,
        endpoint="/api/knowledge/insights",
        api_type=ApiType.KNOWLEDGE_DATA,
        url="http://127.0.0.1:8402/api/knowledge/insights",
        http_status=503,
        status=RequestStatus.FAILED,
        created_at=now - timedelta(hours=3),
    )
    session.add(request)
    session.flush()
    audit.tag(session, ACTOR)
    for n, delay in enumerate((1, 2, 4), start=1):
        attempt = RetryAttempt(
            api_request_id=request.id,
            attempt_number=n,
            backoff_delay=timedelta(seconds=delay),
            outcome=RetryOutcome.FAILURE,
            detail="503 facilitator unavailable",
        )
        session.add(attempt)
    session.add(
        ErrorClassification(
            agent_id=agent.id,
            api_request_id=request.id,
            category=ErrorCategory.SELLER_5XX,
            retryable=True,
            message="seller answered 503 three times",
            x402_reason=None,
        )
    )
    waiting = ApiRequest(
        agent_id=agent.id,
        endpoint="/api/arbitrage-signals",
        api_type=ApiType.MARKET_DATA,
        url="http://127.0.0.1:8402/api/arbitrage-signals",
        http_status=402,
        x402_instructions=samples.payment_required("http://127.0.0.1:8402/api/arbitrage-signals"),
        status=RequestStatus.PAYMENT_REQUIRED,
    )
    session.add(waiting)


def _balances_and_breaker(session: Session, agent: Agent, now: datetime) -> None:
    session.add(
        WalletBalance(
            agent_id=agent.id,
            wallet_address=agent.wallet_address,
            balance_sol=Decimal("0.5"),
            balance_usdc=Decimal("0.008"),
            balance_cash=Decimal("1.25"),
            threshold=Decimal("0.01"),
            last_checked=now,
            low_balance_event=True,
        )
    )
    session.add(
        AuditEvent(
            agent_id=agent.id,
            event_type=AuditEventType.LOW_BALANCE,
            severity=Severity.WARNING,
            details={
                "asset": "USDC",
                "balance": "0.008",
                "threshold": "0.01",
                "top_up": {"address": agent.wallet_address, "asset": "USDC", "amount": "1"},
            },
        )
    )
    session.add_all(
        [
            CircuitBreaker(name="seller:127.0.0.1:8402", state="CLOSED", consecutive_failures=0),
            CircuitBreaker(
                name="seller:127.0.0.1:8499", state="OPEN", consecutive_failures=5, opened_at=now
            ),
        ]
    )
    for state in ("OPEN", "HALF_OPEN", "CLOSED"):
        session.add(
            AuditEvent(
                agent_id=agent.id,
                event_type=AuditEventType.CIRCUIT_BREAKER,
                severity=Severity.WARNING if state == "OPEN" else Severity.INFO,
                details={"breaker": "seller:127.0.0.1:8402", "state": state},
            )
        )


def seed_demo(session: Session, paid_requests: int = 12) -> SeedReport:
    """Load the demo data unless the demo agent already exists."""
    with session.begin():
        if session.scalar(sa.select(Agent.id).where(Agent.name == DEMO_AGENT)) is not None:
            return SeedReport(created=False, agent=DEMO_AGENT)
        audit.tag(session, ACTOR)
        now = datetime.now(UTC)
        agent = Agent(
            name=DEMO_AGENT,
            autonomy_level=AutonomyLevel.PHASE1,
            wallet_address=samples.fake_address("demo-agent"),
        )
        session.add(agent)
        session.flush()
        for i in range(paid_requests):
            _paid(session, agent, i, now)
        _failed(session, agent, now)
        _balances_and_breaker(session, agent, now)
    return SeedReport(
        created=True, agent=DEMO_AGENT, requests=paid_requests + 2, payments=paid_requests
    )
