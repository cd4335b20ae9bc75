"""The overview's statements that grow with the ledger can each be served by an index
(migration 0013): the spend chart from the covering (status, created_at) index alone,
the retries through their created_at. (On a tiny table the planner may still prefer a
sequential scan; sequential scans are switched off here to see what the index offers.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger import overview
from autopay_app.ledger.queries import explain


def _plan(session: Session, query: overview.AnySelect) -> str:
    with session.begin():
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        return "\n".join(explain(session, query))


def test_spend_chart_is_an_index_only_scan(session: Session) -> None:
    since = datetime.now(UTC) - timedelta(days=14)
    plan = _plan(session, overview.spend_query(since))
    assert "Index Only Scan using ix_payments_status_created_at on payments" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_retries_of_the_window_are_found_by_their_creation_time(session: Session) -> None:
    plan = _plan(session, overview.retries_query(datetime.now(UTC) - overview.WINDOW))
    assert "ix_retry_attempts_created_at" in plan, plan
    assert "Seq Scan" not in plan, plan
