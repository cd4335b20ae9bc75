"""Migration 0014 (wallet payments) goes down with its rows and up again."""

from __future__ import annotations

import importlib.util

import psycopg

from autopay_app import MIGRATIONS_DIR
from autopay_app.devtools import scratch
from autopay_app.ledger.backup import libpq_url

NAME = "autopay_wallet_updown"


def _migration() -> object:
    path = MIGRATIONS_DIR / "versions" / "0014_wallet_payments.py"
    spec = importlib.util.spec_from_file_location("migration_0014", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wallet_migration_goes_down_with_top_ups_and_refusals_and_up_again(
    server_url: str,
) -> None:
    migration = _migration()
    url = scratch.create_database(server_url, NAME)
    try:
        scratch.migrate(url)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO agents (name, wallet_address, autonomy_level) "
                "VALUES ('a', 'w', 'PHASE2')"
            )
            conn.execute(
                "INSERT INTO audit_events (agent_id, event_type, severity, details) "
                "SELECT id, 'TOP_UP', 'INFO', '{\"payer\": \"p\"}' FROM agents"
            )
            conn.execute(
                "INSERT INTO api_requests (agent_id, endpoint, api_type) "
                "SELECT id, '/x', 'MARKET_DATA' FROM agents"
            )
            conn.execute(
                "INSERT INTO error_classifications (api_request_id, category, retryable, message) "
                "SELECT id, 'WALLET_REFUSED', false, 'refused' FROM api_requests"
            )
            column = conn.execute(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'payments' AND column_name = 'payer_address'"
            ).fetchone()
            assert column == ("character varying",)
        scratch.migrate(url, migration.down_revision, down=True)  # type: ignore[attr-defined]
        with psycopg.connect(libpq_url(url)) as conn:
            kinds = conn.execute("SELECT enum_range(NULL::audit_event_type)::text").fetchone()
            categories = conn.execute("SELECT enum_range(NULL::error_category)::text").fetchone()
            assert kinds is not None and "TOP_UP" not in kinds[0] and "REQUEST_STATUS" in kinds[0]
            assert categories is not None and "WALLET_REFUSED" not in categories[0]
            events = conn.execute(
                "SELECT event_type::text, details->>'payer' FROM audit_events "
                "WHERE details ? 'payer'"
            ).fetchall()
            assert events == [("AGENT_DECISION", "p")]
            kept = conn.execute("SELECT category::text FROM error_classifications").fetchall()
            assert kept == [("POLICY_DENIED",)]
            gone = conn.execute(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'payments' AND column_name = 'payer_address'"
            ).fetchone()
            assert gone == (0,)
        scratch.migrate(url)
    finally:
        scratch.drop_database(server_url, NAME)
