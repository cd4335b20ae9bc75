"""``autopay mock-api`` makes sure of the seller's token accounts before it answers anything.

Against the local harness it creates them through the faucet; against any other
RPC (here: the harness behind a proxy that hides its ``/_harness/`` endpoints,
as a real node has none) it only checks them, and a missing one stops the start
with one line naming the account, the owner, the mint and the command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from harness.testing import HarnessInfo
from mock_premium_api.testing import start_process, stop_process

pytestmark = pytest.mark.e2e
AUTOPAY = str(Path(sys.executable).with_name("autopay"))
TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


@pytest.fixture()
def node_like_rpc(harness: HarnessInfo) -> Iterator[str]:
    """The harness's JSON-RPC without its harness-only endpoints (like a Solana node)."""

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.rstrip("/") != "":
                self._answer(404, b"not found")
                return
            upstream = requests.post(
                harness.rpc_url, data=body, headers={"Content-Type": "application/json"}
            )
            self._answer(upstream.status_code, upstream.content)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self._answer(404, b"not found")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _env(harness: HarnessInfo, rpc_url: str, pay_to: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SOLANA_RPC_URL": rpc_url,
        "X402_FACILITATOR_URL": harness.facilitator_url,
        "MOCK_API_PAY_TO": pay_to,
        **extra,
    }


def _ata(owner: str, mint: str, program: str) -> str:
    return str(
        get_associated_token_address(
            Pubkey.from_string(owner), Pubkey.from_string(mint), Pubkey.from_string(program)
        )
    )


def _exists(harness: HarnessInfo, address: str) -> bool:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "getAccountInfo",
        "params": [address, {"encoding": "base64"}],
    }
    return (
        requests.post(harness.rpc_url, json=body, timeout=10).json()["result"]["value"] is not None
    )


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen[str], dict]:
    cmd = [AUTOPAY, "mock-api", "--port", "0", "--parent-pid", str(os.getpid())]
    return start_process(cmd, env, "MOCK API READY ")


def test_on_the_harness_the_seller_accounts_are_created_at_start(harness: HarnessInfo):
    seller = str(Keypair().pubkey())
    usdc = _ata(seller, harness.usdc_mint, TOKEN)
    cash = _ata(seller, harness.cash_mint, harness.cash_token_program)
    assert not _exists(harness, usdc) and not _exists(harness, cash)
    proc, info = _serve(_env(harness, harness.rpc_url, seller))
    try:
        assert info["pay_to"] == seller
        assert _exists(harness, usdc) and _exists(harness, cash)
        assert requests.get(info["url"] + "/healthz", timeout=10).status_code == 200
    finally:
        stop_process(proc)


def test_on_another_rpc_a_missing_account_stops_the_start(harness: HarnessInfo, node_like_rpc):
    seller = str(Keypair().pubkey())
    done = subprocess.run(
        [AUTOPAY, "mock-api", "--port", "0"],
        env=_env(harness, node_like_rpc, seller),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert _ata(seller, harness.usdc_mint, TOKEN) in line
    assert f"owner {seller}" in line and f"mint {harness.usdc_mint}" in line
    assert f"spl-token create-account {harness.usdc_mint} --owner {seller}" in line
    assert "Traceback" not in done.stderr and "MOCK API READY" not in done.stdout
    assert not _exists(harness, _ata(seller, harness.usdc_mint, TOKEN))  # it only read

    harness.fund(seller, usdc=0, cash=0)  # the operator creates them (spl-token on Devnet)
    proc, info = _serve(_env(harness, node_like_rpc, seller))
    try:
        assert requests.get(info["url"] + "/healthz", timeout=10).status_code == 200
    finally:
        stop_process(proc)


def test_an_rpc_that_does_not_answer_stops_the_start(harness: HarnessInfo):
    env = _env(
        harness,
        "http://127.0.0.1:9",  # discard port: nothing listens
        str(Keypair().pubkey()),
        MOCK_API_START_WAIT_SECONDS="1",
    )
    done = subprocess.run(
        [AUTOPAY, "mock-api", "--port", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "does not answer" in done.stderr
    assert "autopay harness" in done.stderr and "Traceback" not in done.stderr
