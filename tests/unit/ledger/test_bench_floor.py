"""The ledger benchmark's floor writes the same rows as the project: its audit events
are the ones the status triggers write, field for field."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from autopay_app.devtools import samples
from autopay_app.devtools.bench import ledger_write

EVENTS = sa.text(
    "SELECT event_type::text, severity::text, related_id, details FROM {table} "
    "WHERE related_id IN (:request, :payment) ORDER BY event_type"
)


def _events(conn: sa.Connection, table: str, row: dict[str, Any]) -> list[tuple[Any, ...]]:
    query = sa.text(EVENTS.text.format(table=table))
    ids = {"request": row["request_id"], "payment": row["payment_id"]}
    return [tuple(r) for r in conn.execute(query, ids)]


def test_the_floor_writes_the_audit_events_the_triggers_write(database_url: str) -> None:
    # The benchmark's own scratch database is migrated and owned like this one.
    engine = sa.create_engine(database_url)
    agent_id = uuid.uuid4()
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(
                sa.text(
                    "INSERT INTO agents (id, name, autonomy_level, wallet_address) "
                    "VALUES (:i, 'floor-test', 'PHASE1', :w)"
                ),
                {"i": agent_id, "w": samples.fake_address("floor-test")},
            )
            ledger_write.make_floor_tables(conn)
            instructions = json.dumps(samples.payment_required(ledger_write.URL))
            row = ledger_write._row(agent_id, 7, instructions, "floor-test")
            for sql in (ledger_write.PROJECT_SQL, ledger_write.FLOOR_SQL):
                conn.exec_driver_sql(sql, row)
            project = _events(conn, "audit_events", row)
            floor = _events(conn, "floor_audit_events", row)
    finally:
        engine.dispose()
    assert [e[0] for e in project] == ["API_ACCESS", "PAYMENT_SUCCESS"]
    assert floor == project
    # The five-INSERT floor runs the same statements, one per round trip.
    assert all(statement in ledger_write.FLOOR_SQL for statement in ledger_write.FLOOR_STATEMENTS)
