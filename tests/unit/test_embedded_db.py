"""The embedded PostgreSQL starts on demand, keeps its data, and stops with the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def autopay(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["AUTOPAY_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_second_start_reuses_the_data_and_each_run_stops_the_server(tmp_path: Path) -> None:
    home = tmp_path / "h"
    up = autopay(home, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    pgdata = home / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert not (pgdata / "postmaster.pid").exists(), "server left running after the CLI exited"

    first = autopay(home, "seed")
    assert "seeded agent" in first.stdout, first.stderr
    second = autopay(home, "seed")
    assert "already exists" in second.stdout, second.stderr
    assert not (pgdata / "postmaster.pid").exists()


def test_a_crashed_server_restarts_and_keeps_committed_rows(tmp_path: Path) -> None:
    import psycopg

    from autopay_app import embedded_db

    home = tmp_path / "crash"
    url = embedded_db.ensure_database(home, "crashy").replace("+psycopg", "")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (1)")
        embedded_db.crash_server(home)
        embedded_db.restart_server(home)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT n FROM kept").fetchall() == [(1,)]
    finally:
        embedded_db.stop_server(home)
    assert not (home / "pgdata" / "postmaster.pid").exists(), "restarted server left running"
