"""The stack for the MCP tests, started as the README says: ``autopay harness``,
``autopay mock-api`` (with its paid MCP tools), and ``autopay mcp`` by an MCP client.

The agent is funded with ``autopay fund`` (the user's step). Its MCP server is
started by the official MCP Python client exactly as an MCP client's
configuration would start it (``autopay mcp`` over stdio), or as ``autopay mcp
--http HOST:PORT`` with the API token in the environment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from mcp import StdioServerParameters

from tests.e2e.interop.conftest import AUTOPAY, Stack, start, stop

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class McpStack(Stack):
    """The stack plus the premium API's paid MCP tools (``autopay mock-api --mcp``)."""

    mcp_url: str = ""


def _announced(output: list[str], prefix: str) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in list(output):
            if line.startswith(prefix):
                return dict(json.loads(line[len(prefix) :]))
        time.sleep(0.1)
    raise AssertionError(f"no {prefix!r} line:\n" + "\n".join(output[-30:]))


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpStack]:
    home = tmp_path_factory.mktemp("mcp-stack")
    harness = start(
        [
            "harness",
            "--rpc-port",
            "0",
            "--facilitator-port",
            "0",
            "--slot-ms",
            "100",
            "--state",
            str(home / "harness-state"),
        ],
        {},
        "HARNESS READY ",
    )
    env = {
        "AUTOPAY_HOME": str(home),
        "SOLANA_RPC_URL": harness.info["rpc_url"],
        "X402_FACILITATOR_URL": harness.info["facilitator_url"],
        "MOCK_API_STATE_DIR": str(home),
    }
    try:
        api = start(["mock-api", "--port", "0", "--mcp", "--mcp-port", "0"], env, "MOCK API READY ")
    except BaseException:
        stop(harness.process)
        raise
    try:
        tools = _announced(api.output, "MOCK API MCP READY ")
        yield McpStack(
            env={**env, "PREMIUM_API_URL": api.info["url"]},
            rpc_url=harness.info["rpc_url"],
            facilitator_url=harness.info["facilitator_url"],
            api_url=api.info["url"],
            pay_to=api.info["pay_to"],
            cash_mint=harness.info["cash_mint"],
            usdc_mint=harness.info["usdc_mint"],
            mock_api_output=api.output,
            harness_output=harness.output,
            mcp_url=tools["url"],
        )
    finally:
        stop(api.process)
        stop(harness.process)


@dataclass
class AgentEnv:
    """One agent's environment (its own home and ledger) on the shared stack."""

    stack: McpStack
    env: dict[str, str]
    database_url: str
    address: str

    def autopay(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.stack.autopay(*args, extra_env=self.env, timeout=timeout)

    def stdio(self) -> StdioServerParameters:
        """``autopay mcp`` as an MCP client's configuration starts it."""
        return StdioServerParameters(command=AUTOPAY, args=["mcp"], env=self.full_env())

    def full_env(self) -> dict[str, str]:
        return {**os.environ, **self.stack.env, **self.env}

    def sql(self, query: str, **params: Any) -> list[sa.Row[Any]]:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(query), params).all())
        finally:
            engine.dispose()

    def set_policy(self, **changes: Any) -> None:
        """What a person sets on the agent's policy (caps, assets), written to the ledger."""
        from sqlalchemy.orm import Session

        from autopay_app.ledger import policies

        engine = sa.create_engine(self.database_url)
        try:
            query = "SELECT id FROM agents WHERE wallet_address = :a"
            (agent_id,) = self.sql(query, a=self.address)[0]
            policies.update(Session(engine), agent_id, **changes)
        finally:
            engine.dispose()


@pytest.fixture()
def agent_env(stack: McpStack, database_url: str, tmp_path: Path) -> AgentEnv:
    env = {
        "DATABASE_URL": database_url,
        "AUTOPAY_HOME": str(tmp_path / "agent-home"),
        "AUTOPAY_RETRY_BASE_S": "0.05",
    }
    funded = stack.autopay("fund", "--sol", "1", "--usdc", "2", "--cash", "2", extra_env=env)
    assert funded.returncode == 0, funded.stderr
    address = funded.stdout.split()[1].rstrip(":")
    return AgentEnv(stack, env, database_url, address)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(agent: AgentEnv, token: str | None = None) -> Iterator[str]:
    """``autopay mcp --http 127.0.0.1:PORT`` (with AUTOPAY_API_TOKEN when given); its URL."""
    port = free_port()
    env = {**agent.full_env(), "PYTHONUNBUFFERED": "1"}
    if token is not None:
        env["AUTOPAY_API_TOKEN"] = token
    log = Path(agent.env["AUTOPAY_HOME"]) / f"mcp-http-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as err:
        process = subprocess.Popen(
            [AUTOPAY, "mcp", "--http", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"autopay mcp --http exited: {log.read_text()}")
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError("autopay mcp --http did not listen")
        yield url
    finally:
        stop(process)


@asynccontextmanager
async def with_token(url: str, token: str) -> AsyncIterator[Any]:
    """An MCP client transport to ``url`` sending the bearer token (for ``Client(...)``)."""
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams
