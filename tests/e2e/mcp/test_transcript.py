"""A model-free MCP session with ``autopay mcp`` (stdio), written as a transcript.

The README quotes it (section "The agent as an MCP server"). The calls are
fixed; the answers are the server's own words with what changes from run to run
masked (ports, addresses, signatures, request ids) and long data cut. The test
checks that every call line the README shows is one this session made, in
order. ``AUTOPAY_MCP_TRANSCRIPT=PATH`` also writes the transcript to PATH (to
refresh the README).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.e2e.mcp.conftest import AgentEnv

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]
README = Path(__file__).resolve().parents[3] / "README.md"
API, TOOLS = "http://127.0.0.1:8402", "http://127.0.0.1:8404/mcp"
ANSWER_CHARS = 240


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


class Transcript:
    def __init__(self, agent: AgentEnv) -> None:
        self.agent = agent
        self.lines: list[str] = []
        self.request_ids: dict[str, str] = {}

    def mask(self, text: str) -> str:
        stack = self.agent.stack
        text = text.replace(stack.mcp_url, TOOLS).replace(stack.api_url, API)
        text = text.replace(stack.mcp_url.removesuffix("/mcp"), TOOLS.removesuffix("/mcp"))
        text = text.replace(self.agent.address, "<agent address>")
        text = re.sub(r"\b[1-9A-HJ-NP-Za-km-z]{80,90}\b", "<tx signature>", text)
        text = re.sub(r"agent_id=[0-9a-f-]{36}", "agent_id=<agent id>", text)
        for rid, name in self.request_ids.items():
            text = text.replace(rid, name)
        return re.sub(
            r"http://127\.0\.0\.1:\d+/interactive", "http://127.0.0.1:5000/interactive", text
        )

    def call_line(self, tool: str, arguments: dict[str, Any]) -> str:
        return self.mask(f"> {tool} {json.dumps(arguments)}")

    async def call(self, client: Client, tool: str, arguments: dict[str, Any]) -> Any:
        result = await client.call_tool(tool, arguments)
        rid = (result.structured_content or {}).get("request_id")
        if rid and rid not in self.request_ids:
            self.request_ids[rid] = f"<request {len(self.request_ids) + 1}>"
        self.lines.append(self.call_line(tool, arguments))
        text = self.mask(result.content[0].text)  # type: ignore[union-attr]
        if len(text) > ANSWER_CHARS:
            text = text[:ANSWER_CHARS] + " ..."
        self.lines.append(("< error: " if result.is_error else "< ") + text)
        return result


async def test_a_model_free_session(agent_env: AgentEnv, tmp_path: Path) -> None:
    stack = agent_env.stack
    agent_env.autopay("agent", "policy", "--allow-host", stack.mcp_url.split("/")[2])
    agent_env.env["AUTOPAY_MCP_MAX_CHARS"] = "200"
    log = Transcript(agent_env)
    feed = f"{stack.api_url}/api/market-feed?symbols=SOL"
    async with Client(agent_env.stdio()) as client:
        tools = (await client.list_tools()).tools
        log.lines += ["> tools/list", "< " + ", ".join(t.name for t in tools)]
        await log.call(client, "balances", {})
        await log.call(client, "quote", {"url": feed})
        paid = await log.call(
            client, "paid_fetch", {"url": feed, "reason": "The user asked for the SOL price."}
        )
        rid = paid.structured_content["request_id"]
        await log.call(client, "fetch_result", {"request_id": rid, "offset": 200})
        await log.call(client, "paid_fetch", {"url": feed, "max_amount": "0.001"})
        await log.call(
            client,
            "paid_tool",
            {
                "server": stack.mcp_url,
                "tool": "knowledge_sentiment",
                "arguments": {"asset": "SOL"},
                "reason": "Sentiment for the same report.",
            },
        )
        await log.call(client, "spending", {"window": "day"})
        await log.call(client, "recent_payments", {"limit": 2})
    text = "\n".join(log.lines) + "\n"
    (tmp_path / "mcp-transcript.txt").write_text(text)
    if os.environ.get("AUTOPAY_MCP_TRANSCRIPT"):
        Path(os.environ["AUTOPAY_MCP_TRANSCRIPT"]).write_text(text)
    assert "< error: " not in "\n".join(log.lines[:10])  # the paying part succeeded
    assert any(line.startswith("< error: Not bought (POLICY_DENIED)") for line in log.lines)
    calls = [line for line in log.lines if line.startswith("> ")]
    quoted = [line for line in README.read_text().splitlines() if line.startswith("> ")]
    assert quoted == calls, "README's MCP transcript is not this session's: refresh it"
