"""A short chaos run (200 requests under seeded random faults) ends with zero violations."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_chaos_run_of_200_requests_finds_no_violation(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["AUTOPAY_HOME"] = str(tmp_path)
    env["AUTOPAY_PROGRESS_INTERVAL_S"] = "2"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from autopay_app.cli import main; main()",
            "chaos",
            "--requests",
            "200",
            "--seed",
            "11",
            "--minutes",
            "6",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert re.search(r"^violations\s+0$", out, re.M), out
    assert int(re.search(r"^requests\s+(\d+)", out, re.M).group(1)) >= 200
    injected = re.search(r"^faults injected\s+(.*)$", out, re.M).group(1)
    assert injected.strip(), out
    scanned = re.search(r"^secret scan\s+(\d+) keys and session tokens", out, re.M)
    assert scanned and int(scanned.group(1)) >= 6, out  # three keypairs, three tokens, at least
    transfers = [int(n) for n in re.findall(r"transfers on chain (\d+)", out)]
    assert sum(transfers) > 50, out  # the run really paid, under fire
    # several agents, each paying in both assets (CASH is Token-2022), a verdict per asset
    per_asset = re.findall(r"^(chaos-\w+) (USDC|CASH)\s+transfers on chain (\d+)", out, re.M)
    assert len({agent for agent, _, _ in per_asset}) >= 3, out
    for asset in ("USDC", "CASH"):
        assert sum(int(n) for _, a, n in per_asset if a == asset) > 10, out
    # the processes were the product's own: scheduler and procrastinate workers
    jobs = re.search(r"^paid-fetch jobs\s+(.*)$", out, re.M)
    assert jobs and "succeeded" in jobs.group(1), out
    _progress_was_shown(done.stderr, int(re.search(r"^requests\s+(\d+)", out, re.M).group(1)))


PROGRESS = re.compile(
    r"^chaos \(seed 11\): (\d+)/200 requests \(\d+%\), faults (\d+), violations (\d+), "
    r"\S+, [\d.]+ requests/s$"
)


def _progress_was_shown(stderr: str, final_requests: int) -> None:
    """Off a terminal: a line every 2 s while the faults run, with counters that only grow."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("chaos (seed 11): ")]
    matches = [PROGRESS.match(ln) for ln in lines]
    assert len(lines) >= 5 and all(matches), stderr[-3000:]
    seen = [tuple(int(g) for g in m.groups()) for m in matches if m]
    for column in range(3):
        values = [s[column] for s in seen]
        assert values == sorted(values), seen
    requests, faults, violations = seen[-1]
    assert 0 < requests <= final_requests and faults > 0 and violations == 0, seen
    assert seen[0][0] < requests  # it moved while we watched
