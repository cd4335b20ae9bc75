"""After a Phase 1 run of ``autopay demo``, the overview shows the balances the chain shows.

``autopay demo --requests 4`` runs as the real command (its own harness and mock
API as children, on free ports), the dashboard it serves is read in Chromium, and
the balances on the page are compared with a read of the chain. Ctrl-C (SIGINT)
then stops the demo and the services it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from tests.browser.conftest import PASSWORD, login
from tests.e2e.interop import chain_reads

pytestmark = pytest.mark.browser
AUTOPAY = str(Path(sys.executable).with_name("autopay"))
TOKEN = "demo-browser-test-api-token-0123456789"


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _wait_for(lines: list[str], text: str, process: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in lines):
        assert process.poll() is None, "\n".join(lines[-40:])
        assert time.monotonic() < deadline, "\n".join(lines[-40:])
        time.sleep(0.2)


def test_overview_shows_the_post_purchase_balance(page, database_url: str, tmp_path: Path):
    rpc, facilitator, api, web = _free_ports(4)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUTOPAY_HOME": str(tmp_path / "home"),
        "AUTOPAY_ADMIN_PASSWORD": PASSWORD,
        "AUTOPAY_API_TOKEN": TOKEN,
        "AUTOPAY_PORT": str(web),
        "SOLANA_RPC_URL": f"http://127.0.0.1:{rpc}",
        "X402_FACILITATOR_URL": f"http://127.0.0.1:{facilitator}",
        "PREMIUM_API_URL": f"http://127.0.0.1:{api}",
        "PYTHONUNBUFFERED": "1",
    }
    demo = subprocess.Popen(
        [AUTOPAY, "demo", "--requests", "4"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line.rstrip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        _wait_for(lines, "serving until Ctrl-C", demo, 180)
        assert any(line.split() == ["paid", "and", "accessed", "4"] for line in lines), lines
        agent = next(line.split()[3].rstrip(":") for line in lines if "funded the agent" in line)
        usdc = chain_reads.token_balance(env["SOLANA_RPC_URL"], agent, _mint(env, "usdc"))
        cash = chain_reads.token_balance(env["SOLANA_RPC_URL"], agent, _mint(env, "cash"))
        assert usdc + cash < Decimal(20)  # the run bought something
        answer = requests.get(
            f"http://127.0.0.1:{web}/api/v1/balances",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        ).json()
        (card,) = [c for c in answer["items"] if c["balance"]["wallet_address"] == agent]
        assert (Decimal(card["balance"]["USDC"]), Decimal(card["balance"]["CASH"])) == (usdc, cash)
        login(page, f"http://127.0.0.1:{web}")
        assert Decimal(page.text_content("[data-test=balance-USDC]")) == usdc
        assert Decimal(page.text_content("[data-test=balance-CASH]")) == cash
        page.shot("after-demo")
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)  # Ctrl-C
        code = demo.wait(30)
        reader.join(5)
        if demo.stdout is not None:
            demo.stdout.close()
    assert code == 0 and "stopping" in lines, lines[-20:]
    with pytest.raises(requests.ConnectionError):
        requests.get(env["PREMIUM_API_URL"] + "/healthz", timeout=2)  # its children are gone


def _mint(env: dict[str, str], symbol: str) -> str:
    state = requests.get(env["SOLANA_RPC_URL"] + "/_harness/state", timeout=5).json()
    return str(state["mints"][symbol]["address"])
