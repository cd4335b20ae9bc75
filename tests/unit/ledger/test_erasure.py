"""`autopay agent forget NAME` removes personal data and keeps the money trail."""

from __future__ import annotations

from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from autopay_app.devtools import seed
from autopay_app.ledger import agents
from autopay_app.secrets import SecretBox
from tests.factories import query, scalar


def test_forget_scrubs_personal_data_and_keeps_money(
    session: Session, runner: FlaskCliRunner
) -> None:
    seed.seed_demo(session)
    with session.begin():
        agent = agents.get_by_name(session, seed.DEMO_AGENT)
    agents.set_session_token(session, agent, "tok", SecretBox("k" * 32))
    money_before = query(
        session,
        "SELECT amount, currency::text, payment_hash, status::text "
        "FROM payments ORDER BY payment_hash",
    )
    audit_before = scalar(session, "SELECT count(*) FROM audit_events")

    result = runner.invoke(args=["agent", "forget", seed.DEMO_AGENT, "--yes"])

    assert result.exit_code == 0, result.output
    assert "session token removed: yes" in result.output
    assert "is now 'forgotten-" in result.output
    row = query(
        session,
        "SELECT name, session_token_hash, is_active, erased_at, wallet_address "
        "FROM agents WHERE id = :i",
        i=agent.id,
    )[0]
    assert row[0].startswith("forgotten-") and row[1] is None and row[2] is False
    assert row[3] is not None and row[4] == agent.wallet_address
    assert (
        scalar(
            session,
            "SELECT count(*) FROM api_requests WHERE agent_id = :i AND "
            "(request_payload IS NOT NULL OR response_headers IS NOT NULL "
            "OR data_accessed IS NOT NULL)",
            i=agent.id,
        )
        == 0
    )
    assert (
        query(
            session,
            "SELECT amount, currency::text, payment_hash, status::text "
            "FROM payments ORDER BY payment_hash",
        )
        == money_before
    )
    assert scalar(session, "SELECT count(*) FROM audit_events") == audit_before


def test_forget_unknown_agent_is_a_clear_error(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["agent", "forget", "nobody", "--yes"])
    assert result.exit_code != 0
    assert "no agent named 'nobody'" in str(result.exception)
