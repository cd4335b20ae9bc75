"""The task queue's schema (migration 0015): owned by ``autopay_owner``; the application role
may use the queue (its tables and functions), nothing more; procrastinate's own connections
work as that role, with the queue's schema as their search path."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from autopay_app.ledger import queue, roles
from autopay_app.tasks import queue as task_queue
from autopay_app.tasks.config import WorkerConfig
from tests.factories import scalar

OWNERS = """
SELECT DISTINCT owner FROM (
    SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = 'procrastinate'
    UNION ALL SELECT relowner::regrole::text FROM pg_class
        WHERE relnamespace = 'procrastinate'::regnamespace
    UNION ALL SELECT proowner::regrole::text FROM pg_proc
        WHERE pronamespace = 'procrastinate'::regnamespace
    UNION ALL SELECT typowner::regrole::text FROM pg_type
        WHERE typnamespace = 'procrastinate'::regnamespace
) AS o
"""


def test_the_queue_belongs_to_the_owner_role(session: Session) -> None:
    with session.begin():
        owners = [r[0] for r in session.execute(sa.text(OWNERS))]
    assert owners == [roles.OWNER]


def test_the_app_role_uses_the_queue(session: Session) -> None:
    assert roles.current_role(session) == roles.APP
    session.rollback()
    job = queue.PaidFetchJob("someone", "http://127.0.0.1:9/x", "CLI", uuid.uuid4())
    with session.begin():
        job_id = queue.defer(session, job, 4)
    assert job_id is not None
    assert queue.job_status(session, job_id) == queue.QUEUED
    assert scalar(session, "SELECT count(*) FROM procrastinate.procrastinate_events") == 1


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("CREATE TABLE procrastinate.mine (id int)", "permission denied for schema"),
        (
            "CREATE FUNCTION procrastinate.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "permission denied for schema",
        ),
        ("DROP TABLE procrastinate.procrastinate_jobs", "must be owner"),
        ("ALTER TABLE procrastinate.procrastinate_jobs DISABLE TRIGGER USER", "must be owner"),
        ("TRUNCATE procrastinate.procrastinate_jobs", "permission denied"),
        ("DROP SCHEMA procrastinate CASCADE", "must be owner"),
    ],
)
def test_the_app_role_cannot_change_the_queue(
    session: Session, statement: str, refusal: str
) -> None:
    with pytest.raises(DBAPIError, match=refusal), session.begin():
        session.execute(sa.text(statement))


def test_procrastinate_connections_work_as_the_app_role(database_url: str) -> None:
    app = task_queue.build(database_url, WorkerConfig())

    async def who() -> dict[str, str]:
        async with app.open_async():
            return await app.connector.execute_query_one_async(
                "SELECT current_user AS role, current_setting('search_path') AS path"
            )

    found = asyncio.run(who())
    assert found == {"role": roles.APP, "path": "procrastinate"}
