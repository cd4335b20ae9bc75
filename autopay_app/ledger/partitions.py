"""Monthly partitions of audit_events and transaction_logs, and retention.

The SQL functions live in the database (created by migration 0001), so the
scheduler, the CLI and a DBA with psql all run the same code:
``autopay_create_partitions(months_ahead)`` and
``autopay_apply_retention(parent, keep)``. Both run as the maintenance role
(``SET LOCAL ROLE autopay_maintenance``, see :mod:`autopay_app.ledger.roles`): the
application role may not delete audit events, the maintenance role may.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger.roles import become_maintenance

PARTITIONED = ("audit_events", "transaction_logs")


@dataclass(frozen=True)
class RetentionResult:
    dropped: list[str]
    days: int


def create_upcoming(session: Session, months_ahead: int = 3) -> int:
    """Create missing partitions for this month and ``months_ahead`` more; returns how many."""
    with session.begin():
        become_maintenance(session)
        made = session.execute(sa.text("SELECT autopay_create_partitions(:m)"), {"m": months_ahead})
        return int(made.scalar_one())


def apply_retention(
    session: Session, days: int, tables: tuple[str, ...] = ("audit_events",)
) -> RetentionResult:
    """Drop whole partitions older than ``days`` (and expired rows in the default partition).

    Only the audit trail expires by default: transaction logs are money records,
    kept unless ``tables`` names them explicitly.
    """
    dropped: list[str] = []
    with session.begin():
        become_maintenance(session)
        for table in tables:
            if table not in PARTITIONED:
                raise ValueError(f"{table} is not a partitioned ledger table")
            rows = session.execute(
                sa.text("SELECT autopay_apply_retention(:t, make_interval(days => :d))"),
                {"t": table, "d": days},
            )
            dropped.extend(r[0] for r in rows)
    return RetentionResult(dropped=dropped, days=days)


def list_partitions(session: Session, parent: str) -> list[str]:
    rows = session.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:p AS regclass) ORDER BY c.relname"
        ),
        {"p": parent},
    )
    return [r[0] for r in rows]


#: Monthly and default partitions are made by the maintenance function, not by models.
PARTITION_NAME = re.compile(r"^(audit_events|transaction_logs)_(p\d{6}|default)$")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic filter: leave partitions out of autogenerate comparisons."""
    return not (type_ == "table" and name is not None and PARTITION_NAME.match(name))
