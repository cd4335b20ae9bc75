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
