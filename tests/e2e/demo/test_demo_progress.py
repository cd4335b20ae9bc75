"""``autopay demo --requests N --exit`` as a user runs it: it starts its own harness and mock
API, buys N resources, and off a terminal prints a progress line every interval."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

LINE = re.compile(
    r"^agent buying data: (\d+)/(\d+) requests \(\d+%\), accessed (\d+), failed (\d+), "
    r"\S+, [\d.]+ requests/s$"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_requests_show_periodic_progress_and_the_same_summary(
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
        "AUTOPAY_PROGRESS_INTERVAL_S": "0.2",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", "demo"]
        + ["--requests", "12", "--exit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    progress = [LINE.match(ln) for ln in done.stderr.splitlines() if ln.startswith("agent buying")]
    assert len(progress) >= 3 and all(progress), done.stderr[-3000:]
    counts = [tuple(int(g) for g in m.groups()) for m in progress if m]
    assert all(total == 12 and accessed + failed == n for n, total, accessed, failed in counts)
    assert [c[0] for c in counts] == sorted(c[0] for c in counts)  # never goes back
    assert counts[-1] == (12, 12, 12, 0)  # the last line is the final state
    assert "agent buying data" not in done.stdout  # progress on stderr, the summary on stdout
    assert re.search(r"^  requests\s+12$", done.stdout, re.M), done.stdout
    assert re.search(r"^  paid and accessed\s+12$", done.stdout, re.M), done.stdout
