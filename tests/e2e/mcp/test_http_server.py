"""``autopay mcp --http HOST:PORT``: streamable HTTP behind the JSON API's bearer token."""

from __future__ import annotations

import socket
import stat
import subprocess
from pathlib import Path

import pytest
import requests
from mcp import Client

from tests.e2e.mcp.conftest import AUTOPAY, AgentEnv, http_server, with_token

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


async def test_http_needs_the_token_and_pays_through_the_agent(agent_env: AgentEnv) -> None:
    token = "a-test-token-of-the-json-api-0123456789"
    url = f"{agent_env.stack.api_url}/api/knowledge/sentiment?asset=SOL"
    with http_server(agent_env, token) as endpoint:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            answer = requests.post(endpoint, json=INITIALIZE, headers={**ACCEPT, **headers})
            assert answer.status_code == 401, answer.text
            assert "Bearer" in answer.json()["error"]["message"]
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        accepted = requests.post(
            endpoint, json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {token}"}
        )
        for answer in (accepted, requests.get(endpoint.replace("/mcp", "/nowhere"))):
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert answer.headers["Cache-Control"].split(",")[0] in ("no-store", "no-cache")
            assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert accepted.status_code == 200, accepted.text
        async with Client(with_token(endpoint, token)) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            paid = await client.call_tool("paid_fetch", {"url": url, "reason": "over HTTP"})
    assert {"paid_fetch", "quote", "balances"} <= names
    assert not paid.is_error, paid.content
    signature = paid.structured_content["payment"]["signature"]
    rows = agent_env.sql("SELECT status, payment_hash FROM payments")
    assert [tuple(map(str, r)) for r in rows] == [("VERIFIED", signature)]


async def test_http_uses_the_generated_api_token_file(agent_env: AgentEnv) -> None:
    token_file = Path(agent_env.env["AUTOPAY_HOME"]) / "api.token"
    with http_server(agent_env) as endpoint:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert requests.post(endpoint, json=INITIALIZE, headers=ACCEPT).status_code == 401
        async with Client(with_token(endpoint, token)) as client:
            balances = await client.call_tool("balances", {})
        # Guessing is slowed as on the JSON API: the 10th wrong token closes the address.
        wrong = {**ACCEPT, "Authorization": "Bearer guess"}
        codes = [
            requests.post(endpoint, json=INITIALIZE, headers=wrong).status_code for _ in range(10)
        ]
        assert codes == [401] * 10
        right = {**ACCEPT, "Authorization": f"Bearer {token}"}
        slowed = requests.post(endpoint, json=INITIALIZE, headers=right)
        assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) >= 1
    assert not balances.is_error
    assert balances.structured_content["address"] == agent_env.address
    assert balances.structured_content["USDC"] == "2.000000"


def test_an_address_in_use_is_one_line_and_nothing_says_serving(agent_env: AgentEnv) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [AUTOPAY, "mcp", "--http", f"127.0.0.1:{port}"],
            env=agent_env.full_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and "serving" not in out.stderr, out.stderr
    last = out.stderr.splitlines()[-1]
    assert last == "autopay: mcp: cannot serve: [Errno 98] Address already in use", out.stderr
