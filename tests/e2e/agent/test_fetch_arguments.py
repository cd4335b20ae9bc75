"""``autopay fetch`` refuses a malformed URL or ``--max-amount`` with one usage line,
before anything is written to the ledger (never a traceback, never a request row)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.e2e.agent.conftest import Stack, agent_env

AUTOPAY = str(Path(sys.executable).with_name("autopay"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["not-a-url"], "'not-a-url' is not a URL"),
        (["http://"], "'http://' is not a URL"),
        (["mcp+http://127.0.0.1:8404/mcp"], "names no valid tool"),
        (["--max-amount", "abc", "{feed}"], "'abc' is not a decimal number"),
        (["--max-amount", "-1", "{feed}"], "'-1' is not above zero"),
        (["--max-amount", "NaN", "--queue", "{feed}"], "'NaN' is not above zero"),
    ],
)
def test_bad_arguments_are_one_line_and_write_nothing(
    stack: Stack, tmp_path: Path, database_url: str, engine: sa.Engine, args: list[str], says: str
) -> None:
    count = "SELECT count(*) FROM api_requests"
    with engine.connect() as conn:
        before = conn.execute(sa.text(count)).scalar_one()
    argv = [a.format(feed=stack.url("/api/market-feed")) for a in args]
    out = subprocess.run(
        [AUTOPAY, "fetch", *argv],
        env=agent_env(stack, tmp_path, database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and says in errors[0], out.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.text(count)).scalar_one() == before
