"""Monthly partitions are created ahead; retention drops whole expired partitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from autopay_app.ledger import partitions
from tests.factories import make_agent, query, scalar


def _month(offset: int) -> str:
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 + offset
    return f"{index // 12:04d}{index % 12 + 1:02d}"


def test_partitions_exist_for_this_month_and_three_ahead(session: Session) -> None:
    for parent in partitions.PARTITIONED:
        names = set(partitions.list_partitions(session, parent))
        session.rollback()
        expected = {f"{parent}_p{_month(i)}" for i in range(4)} | {f"{parent}_default"}
        assert expected <= names
    assert partitions.create_upcoming(session, 3) == 0  # idempotent
    assert partitions.create_upcoming(session, 5) == 4  # two more months, two tables


def _old_event(session: Session, agent_id, days: int) -> None:  # type: ignore[no-untyped-def]
    query(
        session,
        "INSERT INTO audit_events (agent_id, event_type, details, created_at) "
        "VALUES (:a, 'API_ACCESS', '{}'::jsonb, now() - make_interval(days => :d)) RETURNING id",
        a=agent_id,
        d=days,
    )


def test_stray_rows_move_from_default_when_their_partition_is_created(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
    _old_event(session, agent.id, 200)  # no partition that far back: lands in default
    assert scalar(session, "SELECT count(*) FROM audit_events_default") == 1
    month = scalar(session, "SELECT (now() - interval '200 days')::date")
    assert scalar(session, "SELECT autopay_ensure_partition('audit_events', :m)", m=month)
    assert scalar(session, "SELECT count(*) FROM audit_events_default") == 0
    assert scalar(session, "SELECT count(*) FROM audit_events") == 1


def test_retention_drops_expired_partitions_and_keeps_recent(
    session: Session, runner: FlaskCliRunner
) -> None:
    with session.begin():
        agent = make_agent(session)
    month = scalar(session, "SELECT (now() - interval '200 days')::date")
    scalar(session, "SELECT autopay_ensure_partition('audit_events', :m)", m=month)
    _old_event(session, agent.id, 200)
    _old_event(session, agent.id, 400)  # in the default partition, also expired
    _old_event(session, agent.id, 1)
    old_partition = f"audit_events_p{month:%Y%m}"
    assert old_partition in partitions.list_partitions(session, "audit_events")
    session.rollback()

    result = runner.invoke(args=["retention", "--days", "90"])

    assert result.exit_code == 0, result.output
    assert old_partition in result.output
    assert old_partition not in partitions.list_partitions(session, "audit_events")
    session.rollback()
    assert scalar(session, "SELECT count(*) FROM audit_events") == 1
    assert (
        scalar(
            session,
            "SELECT count(*) FROM audit_events WHERE created_at > now() - interval '2 days'",
        )
        == 1
    )


def test_retention_keeps_transaction_logs_unless_asked(session: Session) -> None:
    month = (datetime.now(UTC) - timedelta(days=200)).date()
    scalar(session, "SELECT autopay_ensure_partition('transaction_logs', :m)", m=month)
    result = partitions.apply_retention(session, 90)
    assert all(name.startswith("audit_events") for name in result.dropped)
    assert f"transaction_logs_p{month:%Y%m}" in partitions.list_partitions(
        session, "transaction_logs"
    )
    session.rollback()
    both = partitions.apply_retention(session, 90, ("audit_events", "transaction_logs"))
    assert f"transaction_logs_p{month:%Y%m}" in both.dropped
