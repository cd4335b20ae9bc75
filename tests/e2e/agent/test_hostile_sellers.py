"""Hostile sellers at the HTTP level: endless bodies and trickled bytes.

``autopay fetch`` runs as a subprocess, exactly as a user runs it, against a
raw-socket seller. An answer over the body cap stops being read at the cap,
whatever its framing (the seller counts what it managed to send before the
agent hung up, and the agent's peak memory stays near that of a small fetch);
a seller that trickles bytes is cut off at the call's total deadline and the
whole fetch ends by its own deadline, classified ``SELLER_TIMEOUT``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tests.e2e.agent.conftest import Stack, agent_env
from tests.e2e.agent.sellers import endless_body, raw_seller, small_json, trickle

MiB = 1024 * 1024
CAP = 2 * MiB
HOSTILE_TOTAL = 160 * MiB
#: What may sit in the two loopback socket buffers and the client's read-ahead.
BUFFER_SLACK = 24 * MiB


def fetch(env: dict[str, str], url: str, timeout: float = 180) -> tuple[dict, int]:
    """Run ``autopay fetch --json URL``; returns its summary and its peak RSS in bytes."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from autopay_app.cli import main; main()", "fetch"]
            + ["--json", url],
            env=env,
            stdout=out,
            stderr=err,
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON summary (exit {proc.returncode})\n{stdout}\n{stderr[-3000:]}"
    return json.loads(lines[-1]), usage.ru_maxrss * 1024


@pytest.fixture()
def env(stack: Stack, tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        **agent_env(stack, tmp_path, database_url),
        "AUTOPAY_MAX_BODY_BYTES": str(CAP),
        "AUTOPAY_HTTP_TIMEOUT_S": "2",
    }


@pytest.mark.parametrize("framing", ["chunked", "close", "length"])
def test_oversized_answer_stops_at_the_cap_whatever_its_framing(
    env: dict[str, str], framing: str
) -> None:
    with raw_seller(small_json) as polite:
        small, small_rss = fetch(env, polite.url + "/free")
    assert small["status"] == "ACCESSED", small
    with raw_seller(endless_body(framing, HOSTILE_TOTAL)) as seller:
        summary, peak_rss = fetch(env, seller.url + "/huge")
    print(
        f"{framing}: sent {seller.connections[0].sent} bytes, peak RSS {peak_rss >> 20} MiB "
        f"(small fetch: {small_rss >> 20} MiB)"
    )
    assert seller.connections[0].sent < CAP + BUFFER_SLACK
    assert peak_rss < small_rss + CAP + BUFFER_SLACK, (peak_rss, small_rss)
    assert seller.connections[0].client_hung_up
    assert summary["status"] == "FAILED"
    assert summary["category"] == "RESPONSE_TOO_LARGE", summary
    assert f"{CAP} bytes" in summary["error"]
    assert len(seller.connections) == 1  # an oversized answer is not fetched again


@pytest.mark.parametrize("where", ["headers", "body"])
def test_trickling_seller_is_cut_off_at_the_deadlines(env: dict[str, str], where: str) -> None:
    """One byte every 0.25 s never trips the 1 s read timeout; the deadlines end it."""
    call_s, fetch_s = 1.5, 4.0
    env = {
        **env,
        "AUTOPAY_HTTP_TIMEOUT_S": "1",
        "AUTOPAY_HTTP_DEADLINE_S": str(call_s),
        "AUTOPAY_FETCH_DEADLINE_S": str(fetch_s),
    }
    with raw_seller(trickle(where, every_s=0.25, for_s=20)) as seller:
        summary, _ = fetch(env, seller.url + "/slow")
    assert summary["status"] == "FAILED"
    assert summary["category"] == "SELLER_TIMEOUT", summary
    connections = seller.connections
    assert all(c.client_hung_up for c in connections)
    # Each call ends by its deadline (not after the seller's 20 s), the retries by the fetch's.
    assert max(c.seconds for c in connections) < call_s + 2, connections
    assert sum(c.seconds for c in connections) < fetch_s + 3, connections
    assert 2 <= len(connections) <= 4, connections  # retried, within the fetch's deadline


def test_deadline_settings_are_validated(stack: Stack, tmp_path: Path, database_url: str) -> None:
    env = {**agent_env(stack, tmp_path, database_url), "AUTOPAY_HTTP_DEADLINE_S": "soon"}
    out = subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", "fetch", "http://x/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "AUTOPAY_HTTP_DEADLINE_S" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
