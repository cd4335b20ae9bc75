"""Migrations go up from empty and down to empty, and the models do not drift."""

from __future__ import annotations

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from autopay_app.devtools import scratch
from autopay_app.extensions import db
from autopay_app.ledger.backup import libpq_url
from autopay_app.ledger.partitions import include_object

EXPECTED_TABLES = {
    "agents",
    "api_requests",
    "payments",
    "transaction_logs",
    "wallet_balances",
    "retry_attempts",
    "audit_events",
    "error_classifications",
}


def _objects(url: str) -> dict[str, set[str]]:
    with psycopg.connect(libpq_url(url)) as conn:

        def names(sql: str) -> set[str]:
            return {r[0] for r in conn.execute(sql)}

        return {
            "tables": names(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            ),
            "types": names(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n "
                "ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'"
            ),
            "functions": names(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n "
                "ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
            ),
            "views": names("SELECT viewname FROM pg_views WHERE schemaname = 'public'"),
        }


def test_upgrade_from_empty_and_downgrade_to_empty(server_url: str) -> None:
    url = scratch.create_database(server_url, "autopay_updown")
    try:
        scratch.migrate(url)
        up = _objects(url)
        assert EXPECTED_TABLES <= up["tables"]
        assert "payment_ledger" in up["views"]
        assert {"request_status", "payment_status", "error_category"} <= up["types"]
        assert {"set_updated_at", "autopay_create_partitions"} <= up["functions"]
        scratch.migrate(url, "base", down=True)
        down = _objects(url)
        assert down == {"tables": set(), "types": set(), "functions": set(), "views": set()}
        scratch.migrate(url)  # and up again
        assert _objects(url) == up
    finally:
        scratch.drop_database(server_url, "autopay_updown")


def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(ctx, db.metadata)
    engine.dispose()
    assert diff == []


def test_constraint_and_index_names_match_the_models(database_url: str) -> None:
    import sqlalchemy as sa

    engine = create_engine(database_url)
    inspector = sa.inspect(engine)
    for table in db.metadata.sorted_tables:
        fks = {fk["name"] for fk in inspector.get_foreign_keys(table.name)}
        assert fks == {c.name for c in table.foreign_key_constraints}, table.name
        indexes = {ix["name"] for ix in inspector.get_indexes(table.name)}
        assert {ix.name for ix in table.indexes} <= indexes, table.name
    engine.dispose()


def test_backup_events_migration_goes_down_with_events_and_up_again(server_url: str) -> None:
    url = scratch.create_database(server_url, "autopay_backup_updown")
    try:
        scratch.migrate(url)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO audit_events (event_type, severity, details) "
                "VALUES ('BACKUP', 'INFO', '{\"outcome\": \"ok\"}')"
            )
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute("INSERT INTO audit_events (event_type) VALUES ('LOW_BALANCE')")
        scratch.migrate(url, "0009-1", down=True)  # just below this migration
        with psycopg.connect(libpq_url(url)) as conn:
            labels = {
                r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::audit_event_type))")
            }
            nullable = conn.execute(
                "SELECT is_nullable FROM information_schema.columns "
                "WHERE table_name = 'audit_events' AND column_name = 'agent_id'"
            ).fetchone()
            left = conn.execute("SELECT count(*) FROM audit_events").fetchone()
        assert "BACKUP" not in labels and "AGENT_DECISION" in labels
        assert nullable == ("NO",) and left == (0,)
        scratch.migrate(url)
        with psycopg.connect(libpq_url(url)) as conn:
            owner = conn.execute(
                "SELECT pg_get_userbyid(typowner) FROM pg_type WHERE typname = 'audit_event_type'"
            ).fetchone()
        assert owner == ("autopay_owner",)
    finally:
        scratch.drop_database(server_url, "autopay_backup_updown")


def test_status_audit_downgrade_keeps_request_events_as_api_access(server_url: str) -> None:
    """Migration 0011 down: triggers gone, REQUEST_STATUS rows kept as API_ACCESS."""
    import importlib.util

    from autopay_app import MIGRATIONS_DIR

    path = MIGRATIONS_DIR / "versions" / "0011_status_audit_triggers.py"
    spec = importlib.util.spec_from_file_location("migration_0011", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    url = scratch.create_database(server_url, "autopay_audit_down")
    try:
        scratch.migrate(url)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO agents (name, wallet_address, autonomy_level) "
                "VALUES ('a', 'w', 'PHASE1')"
            )
            conn.execute(
                "INSERT INTO api_requests (agent_id, endpoint, api_type) "
                "SELECT id, '/x', 'MARKET_DATA' FROM agents"
            )
            assert conn.execute("SELECT event_type::text FROM audit_events").fetchall() == [
                ("REQUEST_STATUS",)
            ]
        scratch.migrate(url, migration.down_revision, down=True)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            kinds = conn.execute("SELECT enum_range(NULL::audit_event_type)::text").fetchone()
            assert kinds is not None and "REQUEST_STATUS" not in kinds[0]
            assert "BACKUP" in kinds[0]  # the revision below keeps its own value
            rows = conn.execute("SELECT event_type::text, details->>'to' FROM audit_events")
            assert rows.fetchall() == [("API_ACCESS", "PENDING")]
            conn.execute("UPDATE api_requests SET status = 'FAILED'")
            assert conn.execute("SELECT count(*) FROM audit_events").fetchone() == (1,)
        scratch.migrate(url)
    finally:
        scratch.drop_database(server_url, "autopay_audit_down")


def test_reserve_function_migration_goes_down_and_up_with_its_grant(server_url: str) -> None:
    """Migration 0016 down: the function is gone and ``autopay_apply_roles()`` no longer
    names it; up again: the app role may run it (after a later re-apply of the roles too)."""
    url = scratch.create_database(server_url, "autopay_reserve_updown")
    grant = (
        "SELECT count(*) FROM pg_proc WHERE proname = 'autopay_reserve_payment' "
        "AND has_function_privilege('autopay_app', oid, 'EXECUTE')"
    )
    try:
        scratch.migrate(url)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("SELECT autopay_apply_roles()")
            assert conn.execute(grant).fetchone() == (1,)
        scratch.migrate(url, "0015", down=True)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            assert conn.execute(grant).fetchone() == (0,)
            source = conn.execute(
                "SELECT prosrc FROM pg_proc WHERE proname = 'autopay_apply_roles'"
            ).fetchone()
            assert source is not None and "autopay_reserve_payment" not in source[0]
            conn.execute("SELECT autopay_apply_roles()")
        scratch.migrate(url)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            assert conn.execute(grant).fetchone() == (1,)
    finally:
        scratch.drop_database(server_url, "autopay_reserve_updown")
