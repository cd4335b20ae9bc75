"""A ledger's fingerprint: row count and an md5 over every row of every ledger table.

Two databases with equal fingerprints hold the same ledger (backup and restore tests).
"""

from __future__ import annotations

import psycopg

from autopay_app.ledger.backup import libpq_url

TABLES = (
    "agents",
    "api_requests",
    "payments",
    "transaction_logs",
    "wallet_balances",
    "retry_attempts",
    "audit_events",
    "error_classifications",
)


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 over every row of every ledger table, and the partitions."""
    out = {}
    with psycopg.connect(libpq_url(url)) as conn:
        for table in TABLES:
            out[table] = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) "
                f"FROM {table} t"
            ).fetchone()
        out["partitions"] = conn.execute(
            "SELECT count(*), string_agg(relname, ',' ORDER BY relname) FROM pg_class "
            "WHERE relname ~ '_(p[0-9]{6}|default)$'"
        ).fetchone()
    return out
