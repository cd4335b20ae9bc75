"""The MCP server of one agent: its tools and read-only resources on the ``mcp`` SDK.

Descriptions and input schemas are written for a model: what the tool does,
what it costs, and what to do with a refusal. Each tool delegates to
:class:`~autopay_app.mcp.tools.WalletTools` and answers with a text a model
reads and the same facts as structured content; a refusal is an error result
whose text says why and what would help.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from autopay_app.mcp.tools import Reply, WalletTools

INSTRUCTIONS = """\
This server is a wallet with a spending policy. It pays for data from premium APIs
(x402: HTTP 402 Payment Required, paid in USDC or CASH stablecoins on Solana) on behalf of
one agent, within caps a person set. Use `quote` to learn a price without paying,
`paid_fetch` to buy (say why in `reason`: a person reads it), `paid_tool` to buy one call
of a paid MCP tool, and `fetch_result` for the rest of a long answer or the result of a
payment that waited for a person's approval. `balances`, `spending` and
`recent_payments` show what the wallet has and did. You cannot change the policy, the
caps or the approval mode; a refusal says why and what a person could do.
"""

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
ASKS_SELLER = ToolAnnotations(read_only_hint=True, open_world_hint=True)
PAYS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)

Url = Annotated[
    str,
    Field(
        description="The resource: an http(s) URL of a premium API (e.g. "
        "http://127.0.0.1:8402/api/market-feed?symbols=SOL), or a paid MCP tool call "
        "mcp+http://host:port/mcp#tool_name",
        max_length=2048,
    ),
]
MaxAmount = Annotated[
    str | None,
    Field(
        description="Refuse to pay more than this, in tokens (a decimal string like "
        "'0.05'). The agent's own per-request cap applies anyway.",
        max_length=32,
    ),
]
Asset = Annotated[
    Literal["USDC", "CASH"] | None,
    Field(description="Pay in this stablecoin only (default: the policy's preference)."),
]
Reason = Annotated[
    str | None,
    Field(
        description="Why this purchase is needed, in one sentence. Stored with the "
        "request and shown to the person who reviews spending.",
        max_length=2000,
    ),
]


def result(reply: Reply) -> CallToolResult:
    """A tool's reply as an MCP result: its text, its data as structured content."""
    return CallToolResult(
        content=[TextContent(text=reply.text)],
        structured_content=reply.data,
        is_error=reply.error,
    )


class WalletServer(MCPServer[Any]):
    """The SDK's server, but arguments that fail a tool's schema are refused in one line
    per bad argument (the SDK answers pydantic's multi-line report with its help link)."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            raise ToolError(f"{name}: {argument_errors(exc.__cause__)}") from exc.__cause__


def argument_errors(error: ValidationError) -> str:
    """``window: Input should be 'hour' or 'day'; limit: ...``: one line."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'arguments'}: {e['msg']}"
        for e in error.errors(include_url=False)
    )


def build(tools: WalletTools, name: str = "autopay") -> MCPServer:
    """The MCP server over ``tools`` (one agent)."""
    server: MCPServer = WalletServer(name, instructions=INSTRUCTIONS, log_level="WARNING")
    _paying_tools(server, tools)
    _reading_tools(server, tools)
    _resources(server, tools)
    return server


def _paying_tools(server: MCPServer, tools: WalletTools) -> None:
    @server.tool(annotations=PAYS)
    def paid_fetch(
        url: Url, max_amount: MaxAmount = None, asset: Asset = None, reason: Reason = None
    ) -> CallToolResult:
        """Buy a resource: fetch the URL, paying the seller's x402 price if the agent's policy
        allows it (caps, spend windows, allowed hosts and recipients, balance). Returns the
        data (long data is cut: call fetch_result with the request_id and next_offset for
        the rest) and the payment (amount, asset, transaction signature, explorer link). A
        refusal says why (over a cap, balance too low with the address to top up, host or
        recipient not allowed, seller failing) and pays nothing. When a person must approve
        payments, the answer is 'awaiting approval' with a dashboard link and a request_id:
        call fetch_result with it later. Never pays twice for one request."""
        return result(tools.paid_fetch(url, max_amount, asset, reason))

    @server.tool(annotations=PAYS)
    def paid_tool(
        server: Annotated[
            str,
            Field(
                description="The MCP server's streamable HTTP endpoint, e.g. "
                "http://127.0.0.1:8404/mcp",
                max_length=2048,
            ),
        ],
        tool: Annotated[str, Field(description="The paid tool's name.", max_length=128)],
        arguments: Annotated[
            dict[str, Any] | None, Field(description="The tool's arguments (a JSON object).")
        ] = None,
        max_amount: MaxAmount = None,
        asset: Asset = None,
        reason: Reason = None,
    ) -> CallToolResult:
        """Buy one call of a paid MCP tool (priced with x402) on another MCP server, under the
        same policy, caps and ledger as paid_fetch. Returns the tool's result and the
        payment, or a refusal that says why."""
        return result(tools.paid_tool(server, tool, arguments, max_amount, asset, reason))

    @server.tool(annotations=READ_ONLY)
    def fetch_result(
        request_id: Annotated[str, Field(description="The request_id a paid_fetch returned.")],
        offset: Annotated[
            int, Field(description="Character offset into the data (next_offset).", ge=0)
        ] = 0,
    ) -> CallToolResult:
        """The result of an earlier paid_fetch or paid_tool: once a person approved its
        payment (until then: still awaiting approval), or the rest of data that was cut.
        Pays nothing."""
        return result(tools.fetch_result(request_id, offset))


def _reading_tools(server: MCPServer, tools: WalletTools) -> None:
    @server.tool(annotations=ASKS_SELLER)
    def quote(url: Url, max_amount: MaxAmount = None, asset: Asset = None) -> CallToolResult:
        """What a resource costs and whether the agent's policy would pay for it right now
        (caps, spend windows, allowed hosts and recipients, balance). Asks the seller for
        its price; pays nothing and records no purchase."""
        return result(tools.quote(url, max_amount, asset))

    @server.tool(annotations=ASKS_SELLER)
    def balances() -> CallToolResult:
        """The wallet's address and its SOL, USDC and CASH balances, read from the chain now;
        says which are below the low-balance threshold and where to top up."""
        return result(tools.balances())

    @server.tool(annotations=READ_ONLY)
    def spending(
        window: Annotated[
            Literal["hour", "day"], Field(description="The rolling window: hour or day.")
        ] = "day",
    ) -> CallToolResult:
        """What the agent spent in the rolling hour or day, its cap and what is left."""
        return result(tools.spending(window))

    @server.tool(annotations=READ_ONLY)
    def recent_payments(
        limit: Annotated[int, Field(description="How many (1-100).", ge=1, le=100)] = 10,
    ) -> CallToolResult:
        """The agent's latest payments, newest first: what was bought, why, amount, asset,
        status and transaction signature."""
        return result(tools.recent_payments(limit))

    @server.tool(annotations=ASKS_SELLER)
    def catalog(
        api_url: Annotated[
            str | None,
            Field(
                description="Base URL of a premium API (default: the configured one).",
                max_length=2048,
            ),
        ] = None,
    ) -> CallToolResult:
        """The paid resources a premium API offers, with their prices in USDC and CASH and
        their descriptions. Pays nothing."""
        return result(tools.catalog(api_url))


def _resources(server: MCPServer, tools: WalletTools) -> None:
    @server.resource(
        "autopay://policy",
        name="policy",
        description="The agent's spending policy and autonomy level (read-only: only a "
        "person changes them).",
        mime_type="application/json",
    )
    def policy() -> str:
        return json.dumps(tools.policy())

    @server.resource(
        "autopay://catalog",
        name="catalog",
        description="The configured premium API's paid resources and prices.",
        mime_type="application/json",
    )
    def catalog() -> str:
        return json.dumps(tools.catalog().data)
