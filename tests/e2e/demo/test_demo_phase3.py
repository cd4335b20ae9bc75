"""``autopay demo --phase 3 --exit`` as a user runs it: the agent decides, the demo's own
``autopay worker`` runs the queued buys, and the account says what each one came to."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_phase3_demo_queues_its_buys_and_its_worker_runs_them(
    database_url: str, tmp_path: Path
) -> None:
    rpc, facilitator, api = _free_port(), _free_port(), _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AUTOPAY_")},
        "DATABASE_URL": database_url,
        "AUTOPAY_HOME": str(tmp_path),
        "SOLANA_RPC_URL": f"http://127.0.0.1:{rpc}",
        "X402_FACILITATOR_URL": f"http://127.0.0.1:{facilitator}",
        "PREMIUM_API_URL": f"http://127.0.0.1:{api}",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", "demo"]
        + ["--phase", "3", "--minutes", "0.1", "--tick", "2", "--exit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert re.search(r"^worker: pid \d+ runs the queued paid fetches", done.stdout, re.M)
    assert "add more with `autopay worker`" in done.stdout
    summary = re.search(r"(\d+) bought \(([\d.]+) spent\), (\d+) failed", done.stdout)
    assert summary is not None, done.stdout
    bought, failed = int(summary.group(1)), int(summary.group(3))
    assert bought >= 4 and failed == 0, done.stdout
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            jobs = conn.execute(
                sa.text(
                    "SELECT status::text, count(*) FROM procrastinate.procrastinate_jobs "
                    "WHERE task_name = 'paid_fetch' GROUP BY 1"
                )
            ).all()
            accessed = conn.scalar(
                sa.text("SELECT count(*) FROM api_requests WHERE status = 'ACCESSED'")
            )
    finally:
        engine.dispose()
    assert dict(jobs) == {"succeeded": bought}
    assert accessed == bought
