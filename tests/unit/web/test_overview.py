"""The overview's reads: bounded to their window, one statement each, served by indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from autopay_app.ledger import overview
from autopay_app.ledger.queries import explain
from autopay_app.models import (
    CircuitBreaker,
    ErrorCategory,
    ErrorClassification,
    RequestStatus,
    RetryAttempt,
    RetryOutcome,
    WalletBalance,
)
from tests.factories import make_agent, make_request


def _failure(session, agent, when):
    request = make_request(session, agent, status=RequestStatus.FAILED, created_at=when)
    session.add(
        RetryAttempt(
            api_request_id=request.id,
            attempt_number=1,
            backoff_delay=timedelta(seconds=1),
            outcome=RetryOutcome.FAILURE,
        )
    )
    session.add(
        ErrorClassification(
            agent_id=agent.id,
            api_request_id=request.id,
            category=ErrorCategory.RPC_TIMEOUT,
            retryable=True,
            message="rpc timed out",
            created_at=when,
        )
    )


def _balance(session, agent, usdc, when):
    session.add(  # one row per (agent, wallet): the latest read of that wallet
        WalletBalance(
            agent_id=agent.id,
            wallet_address=agent.wallet_address,
            balance_usdc=Decimal(usdc),
            balance_cash=Decimal("5"),
            threshold=Decimal("0.5"),
            last_checked=when,
        )
    )


@pytest.fixture()
def ledger(session):
    now = datetime.now(UTC)
    with session.begin():
        busy = make_agent(session, name="a-busy")
        make_agent(session, name="b-idle")
        for when in (now - timedelta(hours=30), now - timedelta(hours=1)):
            make_request(session, busy, status=RequestStatus.ACCESSED, created_at=when)
            _failure(session, busy, when)
        _balance(session, busy, "0.1", now - timedelta(hours=2))
        busy.wallet_address = "NewWallet1111111111111111111111111111111111"  # a newer wallet
        _balance(session, busy, "2", now - timedelta(minutes=1))
        session.add(CircuitBreaker(name="rpc", state="OPEN"))
    return now


def test_statistics_cover_the_window_only(session, ledger):
    busy, idle = overview.overview(session, now=ledger)
    assert busy.requests_by_status == {"ACCESSED": 1, "FAILED": 1}
    assert busy.failures_by_category == {"RPC_TIMEOUT": 1}
    assert busy.retries == 1 and busy.success_rate == 0.5
    assert busy.since == ledger - overview.WINDOW
    wide, _ = overview.overview(session, now=ledger, window=timedelta(hours=48))
    assert wide.requests == 4 and wide.retries == 2
    assert wide.failures_by_category == {"RPC_TIMEOUT": 2}


def test_latest_balance_and_shared_breakers_per_agent(session, ledger):
    busy, idle = overview.overview(session, now=ledger)
    assert busy.balance.balance_usdc == Decimal("2") and busy.low_assets == []
    assert idle.balance is None and idle.requests == 0 and idle.success_rate is None
    assert busy.breakers == idle.breakers == {"rpc": "OPEN"}


def test_every_overview_query_is_served_by_an_index(session, ledger):
    since = ledger - overview.WINDOW
    with session.begin():
        # A test database is tiny: forbid the sequential scan to see which index serves.
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plans = {name: explain(session, query) for name, query in overview.overview_queries(since)}
    for name, plan in plans.items():
        assert any("Index" in line for line in plan), (name, plan)
        assert not any("Seq Scan" in line for line in plan), (name, plan)


def test_spend_series_window_is_bounded(session):
    with pytest.raises(ValueError, match="between 1 and 90"):
        overview.spend_series(session, days=0)
    with pytest.raises(ValueError, match="between 1 and 90"):
        overview.spend_series(session, days=365)
    assert overview.spend_series(session, days=1) == []
