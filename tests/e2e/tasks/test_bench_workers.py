"""``autopay bench workers`` as a user runs it (tiny): both tables, with sane figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_bench_workers_reports_overhead_and_throughput(database_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", "bench", "workers"]
        + ["--requests", "10", "--workers", "1,2", "--concurrency", "2"],
        env={**os.environ, "DATABASE_URL": database_url, "AUTOPAY_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    rows = {}
    for label in (
        "direct agent.fetch",
        "queued: defer -> finished",
        "queue overhead: defer -> start",
    ):
        found = re.search(rf"^{re.escape(label)}\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
        assert found, out
        rows[label] = [float(g) for g in found.groups()]
    p50 = {label: figures[0] for label, figures in rows.items()}
    assert 0 < p50["queue overhead: defer -> start"] < p50["queued: defer -> finished"]
    throughput = re.findall(r"^\s+(\d)\s+([\d.]+)\s+(\d+)%\s+(\d+)%", out, re.M)
    assert [row[0] for row in throughput] == ["1", "2"], out
    for _, rate, ours, machine in throughput:
        assert float(rate) > 0 and 0 < int(ours) <= 100 and 0 < int(machine) <= 100, out
