"""The application role may append to the audit trail but never rewrite it.

The app fixture connects as a superuser; the connect hook (autopay_app.db_roles)
makes every session work as ``autopay_app``, so the statements below run with
exactly the rights the running application has.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from autopay_app.devtools import scratch
from autopay_app.ledger import partitions, roles
from autopay_app.ledger.backup import libpq_url
from autopay_app.models import AuditEvent, AuditEventType
from tests.factories import make_agent, query, scalar


def _event(session: Session) -> AuditEvent:
    with session.begin():
        agent = make_agent(session)
        event = AuditEvent(agent_id=agent.id, event_type=AuditEventType.API_ACCESS, details={})
        session.add(event)
    return event


def _partition_of(session: Session, event: AuditEvent) -> str:
    return str(
        scalar(
            session, "SELECT tableoid::regclass::text FROM audit_events WHERE id = :i", i=event.id
        )
    )


def _refused(session: Session, statement: str, match: str, *setup: str) -> None:
    with pytest.raises(DBAPIError, match=match), session.begin():
        for sql in setup:
            session.execute(sa.text(sql))
        session.execute(sa.text(statement))


def test_the_app_works_as_the_application_role(session: Session) -> None:
    assert roles.current_role(session) == roles.APP
    session.rollback()
    assert roles.owned_by(session, roles.APP) == []


@pytest.mark.parametrize(
    "template",
    [
        "UPDATE {t} SET details = '{{}}'::jsonb",
        "DELETE FROM {t}",
        "TRUNCATE {t}",
        "ALTER TABLE {t} DISABLE TRIGGER USER",
        "ALTER TABLE {t} OWNER TO autopay_app",
        "DROP TABLE {t}",
    ],
)
def test_the_app_role_cannot_rewrite_audit_events_or_a_partition(
    session: Session, template: str
) -> None:
    event = _event(session)
    for table in ("audit_events", _partition_of(session, event), "audit_events_default"):
        _refused(session, template.format(t=table), "permission denied|must be owner")
    assert scalar(session, "SELECT count(*) FROM audit_events") == 1


def test_the_app_role_cannot_run_retention_or_take_over_the_tables(session: Session) -> None:
    _event(session)
    _refused(
        session,
        "SELECT autopay_apply_retention('audit_events', interval '0 days')",
        "permission denied for function",
    )
    _refused(session, "SELECT autopay_apply_roles()", "permission denied for function")
    assert scalar(session, "SELECT count(*) FROM audit_events") == 1


@pytest.mark.parametrize(
    ("role", "setting"),
    [(roles.OWNER, "on"), (roles.MAINTENANCE, ""), (roles.APP, "on")],
)
def test_owner_and_setting_alone_do_not_open_the_audit_trail(
    session: Session, role: str, setting: str
) -> None:
    """Below the privileges, the triggers refuse all but the maintenance functions.

    The test's login user is a superuser, so it may take any role: the owner
    (who could disable the triggers, but the app is not the owner) and the
    maintenance role outside its functions are refused like everyone else.
    """
    _event(session)
    setup = (f"SET LOCAL ROLE {role}", f"SET LOCAL autopay.maintenance = '{setting}'")
    expected = "permission denied" if role == roles.APP else "append-only"
    for statement in (
        "DELETE FROM audit_events",
        "UPDATE audit_events SET details = NULL",
        "TRUNCATE audit_events",
        "TRUNCATE audit_events_default",
    ):
        _refused(session, statement, expected, *setup)
    assert scalar(session, "SELECT count(*) FROM audit_events") == 1


def test_the_role_switch_is_per_connection_and_survives_rollback(session: Session) -> None:
    session.execute(sa.text("SELECT 1"))
    session.rollback()
    with session.begin():
        roles.become_maintenance(session)
        assert roles.current_role(session) == roles.MAINTENANCE
    assert roles.current_role(session) == roles.APP


def test_retention_runs_as_the_maintenance_role(session: Session) -> None:
    with session.begin():
        agent = make_agent(session)
    month = (datetime.now(UTC) - timedelta(days=200)).date()
    assert scalar(session, "SELECT autopay_ensure_partition('audit_events', :m)", m=month)
    query(
        session,
        "INSERT INTO audit_events (agent_id, event_type, details, created_at) VALUES "
        "(:a, 'API_ACCESS', '{}'::jsonb, now() - interval '200 days'), "
        "(:a, 'API_ACCESS', '{}'::jsonb, now() - interval '400 days'), "
        "(:a, 'API_ACCESS', '{}'::jsonb, now()) RETURNING id",
        a=agent.id,
    )
    result = partitions.apply_retention(session, 90)
    assert f"audit_events_p{month:%Y%m}" in result.dropped
    assert scalar(session, "SELECT count(*) FROM audit_events") == 1
    assert roles.current_role(session) == roles.APP


def test_partitions_made_later_belong_to_the_owner_and_are_read_only(session: Session) -> None:
    assert partitions.create_upcoming(session, 6) == 6
    newest = max(partitions.list_partitions(session, "audit_events"))
    session.rollback()
    rows = query(
        session,
        "SELECT relowner::regrole::text, has_table_privilege('autopay_app', oid, 'SELECT'), "
        "has_table_privilege('autopay_app', oid, 'DELETE'), "
        "(SELECT count(*) FROM pg_trigger WHERE tgrelid = c.oid AND tgname = "
        "'audit_events_no_truncate') FROM pg_class c WHERE relname = :n",
        n=newest,
    )
    assert rows == [(roles.OWNER, True, False, 1)]
    _refused(session, f"TRUNCATE {newest}", "permission denied")


def test_ensure_partition_refuses_other_tables(session: Session) -> None:
    _refused(
        session,
        "SELECT autopay_ensure_partition('payments', current_date)",
        "not a partitioned ledger table",
    )


def _app_role_reads(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET ROLE autopay_app")
        return int(conn.execute("SELECT count(*) FROM agents").fetchone()[0])  # type: ignore[index]


def test_downgrade_of_one_database_leaves_the_others_and_the_roles(
    server_url: str, database_url: str
) -> None:
    other = scratch.create_database(server_url, "autopay_roles_other")
    try:
        scratch.migrate(other)
        scratch.migrate(other, "0004", down=True)
        with psycopg.connect(libpq_url(other)) as conn:
            owners = {
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT relowner::regrole::text FROM pg_class "
                    "WHERE relnamespace = 'public'::regnamespace"
                )
            }
            granted = conn.execute(
                "SELECT count(*) FROM information_schema.role_table_grants "
                "WHERE grantee LIKE 'autopay\\_%'"
            ).fetchone()
            roles_left = conn.execute(
                "SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)", (list(roles.ROLES),)
            ).fetchone()
            trigger = conn.execute(
                "SELECT prosrc FROM pg_proc WHERE proname = 'audit_events_append_only'"
            ).fetchone()
        assert owners.isdisjoint(roles.ROLES)
        assert granted == (0,)
        assert roles_left == (3,)
        assert trigger is not None and roles.MAINTENANCE not in trigger[0]  # 0001's again
        assert _app_role_reads(database_url) == 0  # the other database still works
        scratch.migrate(other)  # and up again, the roles already there
        assert _app_role_reads(other) == 0
    finally:
        scratch.drop_database(server_url, "autopay_roles_other")
