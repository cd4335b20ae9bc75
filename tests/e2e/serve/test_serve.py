"""``autopay serve`` under gunicorn: log in, one scheduler for three workers, shared limits."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from autopay_app.models import JobRun
from tests.e2e.serve.conftest import (
    PASSWORD,
    Served,
    attempt_login,
    csrf_token,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.e2e


def test_serve_as_the_readme_says_and_log_in(start_serve: Callable[..., Served]) -> None:
    served = start_serve()
    assert any("gunicorn:" in line for line in served.output)
    assert any("rate limits: in memory" in line for line in served.output)
    # one queue worker runs beside gunicorn, and says how to add more
    (queue_worker,) = served.queue_workers()
    assert any(f"worker: pid {queue_worker}" in line for line in served.output)
    assert any("add more with `autopay worker`" in line for line in served.output)
    with requests.Session() as http:
        form = http.get(served.url + "/login", timeout=30)
        assert form.status_code == 200
        answer = http.post(
            served.url + "/login",
            data={"csrf_token": csrf_token(form.text), "password": PASSWORD},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302, answer.text[:300]
        overview = http.get(served.url + "/", timeout=30)
    assert overview.status_code == 200 and "Overview" in overview.text
    assert not any("Traceback" in line or "Warning" in line for line in served.output)
    served.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert served.process.wait(30) == 0
    assert not Path(f"/proc/{queue_worker}/cmdline").exists()  # stopped with it


def _runs(engine: sa.Engine, job: str) -> list[sa.Row]:
    with engine.connect() as conn:
        query = sa.select(JobRun.pid, JobRun.started_at, JobRun.outcome).where(JobRun.job == job)
        return list(conn.execute(query.order_by(JobRun.started_at)))


def test_the_scheduler_runs_once_with_three_workers(
    start_serve: Callable[..., Served], database_url: str
) -> None:
    served = start_serve(
        "--workers",
        "3",
        AUTOPAY_SCHEDULER_JOBS="partitions",
        AUTOPAY_HOUSEKEEPING_INTERVAL_S="0.3",
        AUTOPAY_LEADER_RETRY_S="0.2",
    )
    engine = sa.create_engine(database_url)
    try:
        wait_for(lambda: len(served.workers()) == 3)
        workers = served.workers()
        wait_for(lambda: len(_runs(engine, "partitions")) >= 5)
        leaders = {r.pid for r in _runs(engine, "leadership")}
        assert len(leaders) == 1 and leaders <= set(workers)
        assert {r.pid for r in _runs(engine, "partitions")} == leaders

        (leader,) = leaders
        os.kill(leader, signal.SIGKILL)  # the leading worker dies; gunicorn replaces it
        wait_for(lambda: len({r.pid for r in _runs(engine, "partitions")}) == 2)
        (successor,) = {r.pid for r in _runs(engine, "leadership")} - leaders
        after = [r.started_at for r in _runs(engine, "partitions") if r.pid == successor]
        before = [r.started_at for r in _runs(engine, "partitions") if r.pid == leader]
        assert max(before) < min(after)  # never two runners at once
        assert len(served.workers()) == 3
    finally:
        engine.dispose()


@pytest.fixture()
def redis_url(tmp_path) -> Iterator[str]:
    """A Redis server of this test's own, on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        wait_for(lambda: _pings(client), timeout=15)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def _pings(client) -> bool:  # type: ignore[no-untyped-def]
    import redis

    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_login_limits_hold_across_three_workers(
    start_serve: Callable[..., Served], redis_url: str
) -> None:
    served = start_serve("--workers", "3", AUTOPAY_RATELIMIT_STORAGE_URL=redis_url)
    assert any("rate limits: redis storage (shared" in line for line in served.output)
    wait_for(lambda: len(served.workers()) == 3)
    codes = [attempt_login(served.url, "wrong") for _ in range(14)]
    assert codes == [401] * 10 + [429] * 4, codes
