"""The seed fills every view; payment_ledger joins agent, request, payment and latest log."""

from __future__ import annotations

from decimal import Decimal

from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from autopay_app.models import ConfirmationStatus, TransactionLog
from tests.factories import make_agent, make_payment, make_request, query, scalar


def test_seed_fills_every_table_once(runner: FlaskCliRunner, session: Session) -> None:
    first = runner.invoke(args=["seed"])
    assert first.exit_code == 0 and "seeded agent DemoAutopayAgent" in first.output
    for table in (
        "agents",
        "api_requests",
        "payments",
        "transaction_logs",
        "wallet_balances",
        "retry_attempts",
        "audit_events",
        "error_classifications",
    ):
        assert scalar(session, f"SELECT count(*) FROM {table}") > 0, table
    kinds = {r[0] for r in query(session, "SELECT DISTINCT event_type::text FROM audit_events")}
    assert {
        "PAYMENT_SUCCESS",
        "LOW_BALANCE",
        "CIRCUIT_BREAKER",
        "NETWORK_ISSUE",
        "API_ACCESS",
    } <= kinds
    again = runner.invoke(args=["seed"])
    assert "already exists" in again.output
    assert scalar(session, "SELECT count(*) FROM agents") == 1


def test_payment_ledger_shows_the_latest_log(session: Session) -> None:
    with session.begin():
        agent = make_agent(session, name="viewer")
        payment = make_payment(session, make_request(session, agent), amount=Decimal("0.25"))
        for level in (ConfirmationStatus.PROCESSED, ConfirmationStatus.FINALIZED):
            session.add(
                TransactionLog(
                    payment_id=payment.id,
                    confirmation_status=level,
                    solana_tx_metadata={"level": str(level)},
                )
            )
            session.flush()
    rows = query(
        session,
        "SELECT agent_name, endpoint, amount, confirmation_status::text "
        "FROM payment_ledger WHERE payment_id = :p",
        p=payment.id,
    )
    assert rows == [("viewer", "/api/market-feed", Decimal("0.250000000"), "FINALIZED")]
