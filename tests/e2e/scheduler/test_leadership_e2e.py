"""Two scheduler processes on one database: only the advisory-lock holder runs jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from autopay_app.models import JobRun

READY = "SCHEDULER READY "


@pytest.fixture()
def start_worker(database_url: str, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTOPAY_HOME": str(tmp_path),
        "AUTOPAY_SCHEDULER_JOBS": "partitions",
        "AUTOPAY_HOUSEKEEPING_INTERVAL_S": "0.2",
        "AUTOPAY_LEADER_RETRY_S": "0.2",
        "AUTOPAY_SCHEDULER_HEARTBEAT": str(tmp_path / "heartbeat"),
        "PYTHONUNBUFFERED": "1",
    }

    def start() -> subprocess.Popen:
        cmd = [
            str(Path(sys.executable).with_name("autopay")),
            "scheduler",
            "--parent-pid",
            str(os.getpid()),
        ]
        proc = subprocess.Popen(
            [*cmd, "--seconds", "60"], env=env, stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(READY), line
        assert json.loads(line[len(READY) :])["pid"] == proc.pid
        return proc

    yield start
    for proc in started:  # each by its own PID
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def runs(engine: sa.Engine, job: str) -> list[JobRun]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(JobRun.pid, JobRun.started_at, JobRun.status, JobRun.outcome)
                .where(JobRun.job == job)
                .order_by(JobRun.started_at)
            )
        )


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_only_the_lock_holder_runs_jobs_and_a_standby_takes_over(
    start_worker: Callable[[], subprocess.Popen], database_url: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(database_url)
    try:
        leader = start_worker()
        wait_for(lambda: len(runs(engine, "partitions")) >= 2)
        # The heartbeat a container healthcheck reads: touched while the database answers.
        beat = tmp_path / "heartbeat"
        assert beat.exists() and time.time() - beat.stat().st_mtime < 5
        standby = start_worker()
        time.sleep(1.5)  # several leadership retries of the standby
        assert {r.pid for r in runs(engine, "leadership")} == {leader.pid}
        assert {r.pid for r in runs(engine, "partitions")} == {leader.pid}

        leader.kill()  # SIGKILL: no cleanup; PostgreSQL drops the lock with the connection
        leader.wait(timeout=10)
        killed_at = len(runs(engine, "partitions"))
        wait_for(lambda: any(r.pid == standby.pid for r in runs(engine, "partitions")))
        wait_for(lambda: len(runs(engine, "partitions")) >= killed_at + 3)

        leadership = runs(engine, "leadership")
        assert [r.pid for r in leadership] == [leader.pid, standby.pid]
        assert all(r.outcome["state"] == "ACQUIRED" for r in leadership)
        partitions = runs(engine, "partitions")
        by_leader = [r for r in partitions if r.pid == leader.pid]
        by_standby = [r for r in partitions if r.pid == standby.pid]
        assert len(by_leader) + len(by_standby) == len(partitions)
        # Never both: every run of the old leader started before the first of the new one.
        assert max(r.started_at for r in by_leader) < min(r.started_at for r in by_standby)
        assert all(r.status == "OK" for r in by_standby if r is not by_standby[-1])
        standby.terminate()
        assert standby.wait(timeout=10) == 0
    finally:
        engine.dispose()
