"""The scheduler object: APScheduler jobs behind a PostgreSQL advisory-lock leadership.

Every process that starts an :class:`AutopayScheduler` runs one small
"leadership" job. It tries ``pg_try_advisory_lock`` on a dedicated connection;
the process that gets the lock adds the work jobs and holds the connection for
its life, the others stay on standby and try again every
``AUTOPAY_LEADER_RETRY_S``. PostgreSQL releases the lock when the holder's
connection ends (also when the process is killed), so a standby takes over
within one retry period. A leader that loses its connection drops its jobs
before anyone else can take the lock again. Leadership changes and every job
run are rows in ``job_runs``.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy.orm import Session

from autopay_app.ledger import job_runs
from autopay_app.scheduler import config as scheduler_config
from autopay_app.scheduler.config import SchedulerConfig
from autopay_app.scheduler.jobs import JOBS

log = logging.getLogger(__name__)
LOCK_KEY = "autopay-scheduler"
LEADERSHIP = "leadership"
#: A job pulled forward never runs again sooner than this after the last run.
MIN_GAP_S = 0.05


class Leadership:
    """The advisory lock that makes one process the job runner."""

    def __init__(self, engine: sa.Engine, key: str = LOCK_KEY) -> None:
        self.engine, self.key = engine, key
        self._conn: sa.Connection | None = None
        # The leadership job and the work jobs' pre-run checks share the connection.
        self._mutex = threading.RLock()

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True while this process holds it."""
        with self._mutex:
            if self._conn is not None:
                return self.check()
            return self._acquire()

    def _acquire(self) -> bool:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.scalar(
                sa.text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": self.key}
            )
        except sa.exc.DBAPIError:
            conn.invalidate()
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def check(self) -> bool:
        """Is the lock's connection alive? A dead one means the lock is gone."""
        with self._mutex:
            if self._conn is None:
                return False
            try:
                self._conn.execute(sa.text("SELECT 1"))
                return True
            except sa.exc.DBAPIError:
                self.release()
                return False

    def release(self) -> None:
        """Give the lock up by closing its connection (never returned to the pool)."""
        with self._mutex:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.invalidate()  # session-level locks survive a return to the pool
                conn.close()


def _who() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def run_recorded(app: Flask, name: str, cfg: SchedulerConfig) -> dict[str, Any] | None:
    """Run job ``name`` once in this thread, recording the run and its outcome."""
    from autopay_app.extensions import db

    fn = JOBS[name][0]
    with app.app_context():
        session = Session(db.engine, expire_on_commit=False)
        run_id = job_runs.started(session, name, *_who())
        try:
            outcome = fn(app, cfg)
        except Exception as exc:
            log.exception("job %s failed", name)
            detail = "".join(traceback.format_exception_only(exc)).strip()
            job_runs.finished(session, run_id, error=detail)
            return None
        errors = outcome.get("errors") or []
        job_runs.finished(session, run_id, outcome=outcome, error="; ".join(errors) or None)
        return outcome


class AutopayScheduler:
    """APScheduler wired to the app; started only by ``autopay serve`` / ``autopay demo``."""

    def __init__(self, app: Flask, cfg: SchedulerConfig | None = None) -> None:
        self.app = app
        self.cfg = cfg or scheduler_config.load()
        self._scheduler: BackgroundScheduler | None = None
        self._leadership: Leadership | None = None
        self._lock = threading.Lock()
        # APScheduler's shutdown holds its job-store lock while it waits for running jobs;
        # a job that then looks up a job (pull_forward) would wait for it forever.
        self._modify = threading.Lock()
        self._closing = False

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    @property
    def is_leader(self) -> bool:
        return self._leadership is not None and self._leadership.held

    def refusal(self) -> str | None:
        """Why this process must not start the scheduler (None when it may)."""
        if self.app.testing:
            return "the app is in testing mode"
        if self.app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
            return "debug mode outside the reloader's worker process"
        return None

    def start(self) -> bool:
        """Start the leadership job (and, once leader, the work jobs). False when refused."""
        reason = self.refusal()
        if reason:
            log.warning("scheduler not started: %s", reason)
            return False
        with self._lock:
            if self.running:
                return True
            self._closing = False
            # Start-up objects (modules, the app, SQLAlchemy's mappers: ~160k) live as
            # long as the process; frozen, a full collection no longer walks them, so
            # one (~55 ms over them) cannot land inside a prioritizer tick.
            gc.freeze()
            from autopay_app.extensions import db

            with self.app.app_context():
                self._leadership = Leadership(db.engine)
            self._scheduler = BackgroundScheduler(
                timezone=UTC,
                executors={"default": ThreadPoolExecutor(max(4, len(self.cfg.jobs) + 1))},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            )
            self._scheduler.add_job(
                self._lead,
                IntervalTrigger(seconds=self.cfg.leader_retry_s),
                id=LEADERSHIP,
                next_run_time=datetime.now(UTC),
            )
            self._scheduler.start()
        return True

    def shutdown(self, wait: bool = True) -> None:
        """Stop the jobs and give up the leadership."""
        with self._lock:
            with self._modify:
                self._closing = True
            if self._scheduler is not None and self._scheduler.running:
                self._scheduler.shutdown(wait=wait)
            self._scheduler = None
            if self._leadership is not None:
                self._leadership.release()

    def _lead(self) -> None:
        assert self._leadership is not None and self._scheduler is not None
        was = self._leadership.held
        try:
            now = self._leadership.try_acquire()
        except sa.exc.DBAPIError as exc:
            log.warning("leadership check failed: %s", exc)
            now = False
        else:
            self._heartbeat()
        if now and not was:
            self._record_leadership("ACQUIRED")
            for name in self.cfg.jobs:
                period = getattr(self.cfg, JOBS[name][1])
                self._scheduler.add_job(
                    self._run,
                    IntervalTrigger(seconds=period),
                    args=(name,),
                    id=name,
                    next_run_time=datetime.now(UTC),
                    replace_existing=True,
                )
        elif was and not now:
            for name in self.cfg.jobs:
                if self._scheduler.get_job(name) is not None:
                    self._scheduler.remove_job(name)
            log.warning("scheduler leadership lost: jobs stopped until the lock is retaken")

    def _heartbeat(self) -> None:
        """Touch the heartbeat file: the database answered (a container healthcheck reads it)."""
        if self.cfg.heartbeat_path:
            try:
                Path(self.cfg.heartbeat_path).touch()
            except OSError as exc:
                log.warning("scheduler heartbeat %s: %s", self.cfg.heartbeat_path, exc)

    def _run(self, name: str) -> None:
        # Re-check right before the run: a leader whose lock connection died must not run.
        if self._leadership is not None and self._leadership.check():
            outcome = run_recorded(self.app, name, self.cfg)
            self.pull_forward(name, (outcome or {}).get("next_run_at"))

    def pull_forward(self, name: str, at: str | None) -> datetime | None:
        """Run job ``name`` next at ``at`` (ISO time) if that is sooner than planned.

        The prioritizer asks for this when an agent's own tick interval falls
        due before the job's period. Returns the new run time, or None when
        nothing changed.
        """
        with self._modify:
            if self._closing or self._scheduler is None or at is None:
                return None
            job = self._scheduler.get_job(name)
            if job is None:
                return None
            when = max(datetime.fromisoformat(at), datetime.now(UTC) + timedelta(seconds=MIN_GAP_S))
            if job.next_run_time is not None and when >= job.next_run_time:
                return None
            job.modify(next_run_time=when)
            return when

    def _record_leadership(self, state: str) -> None:
        from autopay_app.extensions import db

        with self.app.app_context():
            session = Session(db.engine, expire_on_commit=False)
            run_id = job_runs.started(session, LEADERSHIP, *_who())
            job_runs.finished(
                session, run_id, outcome={"state": state, "jobs": list(self.cfg.jobs)}
            )


def create_scheduler(app: Flask, cfg: SchedulerConfig | None = None) -> AutopayScheduler:
    """The app's scheduler, configured from the environment and not started."""
    return AutopayScheduler(app, cfg)
