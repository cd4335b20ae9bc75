"""The Postman collection in ``postman/``, run by newman against a real app, so it cannot rot.

The stack is what a developer runs: the Devnet harness and the mock premium API
(real processes), ``autopay fund`` for the seller's token accounts and the agent,
and ``autopay serve`` on a free port. newman comes from npm, installed once into
``.autopay/node/``; without npm the test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from autopay_app.ledger.backup import libpq_url
from harness.testing import run_harness
from mock_premium_api.testing import run_mock_api

ROOT = Path(__file__).resolve().parents[3]
COLLECTION = ROOT / "postman" / "autopay.postman_collection.json"
ENVIRONMENT = ROOT / "postman" / "autopay.postman_environment.json"
NODE = ROOT / ".autopay" / "node"
NEWMAN = NODE / "node_modules" / ".bin" / "newman"
TOKEN = "postman-suite-token-0123456789abcdef"
AGENT = "postman-agent"


def newman() -> Path:
    """newman from the cache, installed with npm on first use (skip only without npm)."""
    if NEWMAN.exists():
        return NEWMAN
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the Postman collection cannot be run (needs Node.js)")
    NODE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(NODE), "--no-audit", "--no-fund", "newman@6"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 or not NEWMAN.exists():
        pytest.skip(f"newman could not be installed with npm: {done.stderr.strip()[-500:]}")
    return NEWMAN


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def autopay(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"autopay serve exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/api/v1/openapi.json", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"autopay serve did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture()
def served_app(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``autopay serve`` against a real harness and mock API, its agent funded; yields its URL."""
    with (
        run_harness(tmp_path / "harness", slot_ms=20) as h,
        run_mock_api(
            facilitator_url=h.facilitator_url, rpc_url=h.rpc_url, cash_mint=h.cash_mint
        ) as api,
    ):
        port = _free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AUTOPAY_")},
            "DATABASE_URL": database_url,
            "AUTOPAY_HOME": str(tmp_path / "home"),
            "SOLANA_RPC_URL": h.rpc_url,
            "X402_FACILITATOR_URL": h.facilitator_url,
            "PREMIUM_API_URL": api.url,
            "CASH_MINT": h.cash_mint,
            "AUTOPAY_ADMIN_PASSWORD": "postman-suite-password",
            "AUTOPAY_API_TOKEN": TOKEN,
            "AUTOPAY_AGENT_NAME": AGENT,
            "AUTOPAY_SCHEDULER_JOBS": "balances",
        }
        autopay(env, "fund", "--sol", "1", "--usdc", "10", "--cash", "10")
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", "from autopay_app.cli import main; main()", "serve"]
                + ["--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(url, process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _requests_in(items: list[dict]) -> int:
    return sum(_requests_in(i["item"]) if "item" in i else 1 for i in items)


def test_postman_collection_passes_against_a_real_app(
    served_app: str, database_url: str, tmp_path: Path
) -> None:
    runner = newman()
    report = tmp_path / "newman.json"
    done = subprocess.run(
        [
            str(runner),
            "run",
            str(COLLECTION),
            "--environment",
            str(ENVIRONMENT),
            "--env-var",
            f"base_url={served_app}",
            "--env-var",
            f"api_token={TOKEN}",
            "--env-var",
            f"agent_name={AGENT}",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--timeout-request",
            "60000",
            "--color",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    stats = json.loads(report.read_text())["run"]["stats"]
    planned = _requests_in(json.loads(COLLECTION.read_text())["item"])
    assert stats["requests"] == {"total": planned, "pending": 0, "failed": 0}
    assert stats["assertions"]["failed"] == 0 and stats["assertions"]["total"] >= 4 * planned

    # The ledger says what the collection saw: one payment, one declined request.
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT r.status::text, count(p.id), min(p.status::text) FROM api_requests r "
            "JOIN agents a ON a.id = r.agent_id LEFT JOIN payments p ON p.api_request_id = r.id "
            "WHERE a.name = %s GROUP BY r.id, r.status ORDER BY r.status",
            (AGENT,),
        ).fetchall()
    assert [(status, n) for status, n, _ in rows] == [("FAILED", 0), ("ACCESSED", 1)]
    assert rows[1][2] in ("CONFIRMED", "VERIFIED")
