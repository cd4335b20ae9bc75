"""``autopay bench`` as the README runs it, at a tiny size: the four clients, the ratios
and the CPU table are printed, every figure a number (speed is reported, not asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

AUTOPAY = str(Path(sys.executable).with_name("autopay"))
CLIENTS = (
    "bare SDK -> SDK seller",
    "bare SDK -> mock API",
    "agent -> SDK seller",
    "agent -> mock API",
)
NUMBER = r"\d+\.\d+"


def test_bench_compares_the_agent_with_the_sdk_alone(server_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": server_url, "AUTOPAY_HOME": str(tmp_path)}
    done = subprocess.run(
        [AUTOPAY, "bench", "--requests", "10", "--workers", "1,2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    for client in CLIENTS:
        for workers in (1, 2):
            row = rf"^{re.escape(client)}\s+{workers}" + rf"\s+{NUMBER}" * 4 + r"$"
            assert re.search(row, out, re.M), out
        cpu = rf"^{re.escape(client)}" + rf"\s+{NUMBER}" * 5 + r"$"
        assert re.search(cpu, out, re.M), out  # client/agent, seller, harness, PG, total
    assert re.search(rf"^ratio \(agent/bare SDK, p50\): {NUMBER}$", out, re.M), out
    assert re.search(
        rf"^seller ratio \(mock API/SDK seller, bare SDK, p50\): {NUMBER}$", out, re.M
    ), out
    assert re.search(rf"^ratio \(agent/bare SDK, p50, 2 workers\): {NUMBER}$", out, re.M), out
    assert re.search(
        rf"^throughput \(agent/bare SDK, SDK seller, 2 workers\): {NUMBER}$", out, re.M
    ), out
    assert "CPU ms per paid request (each client alone, 10 sequential requests)" in out
