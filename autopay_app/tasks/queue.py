"""The procrastinate app: its connector on the ledger's database, its tasks and queues.

procrastinate's queries name its tables without a schema; its connections get
``search_path=procrastinate`` (migration 0015 put them there) and work as the
application role (``SET ROLE autopay_app``, like the app's own connections:
:mod:`autopay_app.db_roles`), which may use the queue and nothing more.
"""

from __future__ import annotations

from typing import Any

import procrastinate
import psycopg
import sqlalchemy as sa
from procrastinate import RetryStrategy

from autopay_app.ledger.queue import PAID_FETCH_QUEUE, PAID_FETCH_TASK
from autopay_app.ledger.roles import APP
from autopay_app.tasks import maintenance, paid_fetch, recovery
from autopay_app.tasks.config import WorkerConfig

MAINTENANCE_QUEUE = maintenance.QUEUE
QUEUES = (PAID_FETCH_QUEUE, MAINTENANCE_QUEUE)
#: A paid fetch that raised (the database went away, a payment still undecided) runs
#: again: the re-run settles what the first one left (it never pays twice).
PAID_FETCH_RETRY = RetryStrategy(
    max_attempts=20,
    exponential_wait=1,
    retry_exceptions={
        paid_fetch.PaymentUndecided,
        psycopg.OperationalError,
        sa.exc.OperationalError,
    },
)


def conninfo(url: str | sa.URL) -> str:
    """A libpq URL for psycopg from the ledger's SQLAlchemy URL."""
    parsed = sa.make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


async def _as_app_role(conn: psycopg.AsyncConnection[Any]) -> None:
    autocommit = conn.autocommit
    await conn.set_autocommit(True)
    try:
        cur = await conn.execute(
            "SELECT pg_has_role(session_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s",
            (APP,),
        )
        row = await cur.fetchone()
        if row and row[0]:
            await conn.execute(f'SET ROLE "{APP}"')
    finally:
        await conn.set_autocommit(autocommit)


def connector(url: str | sa.URL, pool_size: int) -> procrastinate.PsycopgConnector:
    """An async psycopg pool of at most ``pool_size`` connections to the ledger's queue."""
    return procrastinate.PsycopgConnector(
        conninfo=conninfo(url),
        kwargs={"options": "-c search_path=procrastinate"},
        configure=_as_app_role,
        min_size=1,
        max_size=max(2, pool_size),
    )


def build(url: str | sa.URL, cfg: WorkerConfig) -> procrastinate.App:
    """The procrastinate app with the paid-fetch and recovery tasks registered."""
    app = procrastinate.App(connector=connector(url, cfg.pool))
    app.task(
        name=PAID_FETCH_TASK,
        queue=PAID_FETCH_QUEUE,
        pass_context=True,
        retry=PAID_FETCH_RETRY,
    )(paid_fetch.run)
    app.task(name=maintenance.TASK, queue=MAINTENANCE_QUEUE, pass_context=True)(maintenance.run)
    task = app.task(
        name=recovery.TASK,
        queue=MAINTENANCE_QUEUE,
        pass_context=True,
        queueing_lock=recovery.TASK,
    )(recovery.run)
    app.periodic(cron=f"* * * * * */{cfg.stalled_check_s}", periodic_id="stalled")(task)
    return app
