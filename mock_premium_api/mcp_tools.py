"""The premium data as paid MCP tools, priced with x402 like the HTTP endpoints.

Four tools, one per paid endpoint and at its price: ``market_feed``,
``arbitrage_signals``, ``knowledge_insights`` and ``knowledge_sentiment``.
Each call goes through the x402 SDK's MCP payment wrapper
(:meth:`~mock_premium_api.x402_setup.Seller.call_paid_tool`): without a
payment in ``_meta["x402/payment"]`` the result is the x402 ``PaymentRequired``
(an error result); with one, it is verified (the same strict-check hook as
HTTP) and settled through the same facilitator, and the data comes back with
the settlement receipt in ``_meta["x402/payment-response"]``. Bad arguments
are an error result and are not charged. A replayed payment fails verification
(the transaction is already on chain) and gets no data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult
from pydantic import Field

from .catalog import ENDPOINTS_BY_PATH, SERVICE_NAME
from .knowledge import UnknownTopicError, insights, sentiment
from .market import DEFAULT_SYMBOLS, MarketModel, UnknownSymbolError
from .x402_setup import FacilitatorUnavailable, Seller

MAX_SYMBOLS = 10
Handler = Callable[[dict[str, Any]], tuple[dict[str, Any], bool]]
#: tool name -> the HTTP endpoint whose price and description it shares
TOOLS = {
    "market_feed": "/api/market-feed",
    "arbitrage_signals": "/api/arbitrage-signals",
    "knowledge_insights": "/api/knowledge/insights",
    "knowledge_sentiment": "/api/knowledge/sentiment",
}


def _bad(message: str) -> tuple[dict[str, Any], bool]:
    return {"error": "bad_request", "detail": message}, True


def _with_ttl(path: str, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    return {**data, "ttl_seconds": ENDPOINTS_BY_PATH[path].ttl_seconds}, False


def handlers(market: MarketModel) -> dict[str, Handler]:
    """The data behind each tool, validated as the HTTP views validate it."""

    def feed(args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        raw = str(args.get("symbols") or ",".join(DEFAULT_SYMBOLS))
        symbols = list(dict.fromkeys(s.strip().upper() for s in raw.split(",") if s.strip()))
        if not symbols or len(symbols) > MAX_SYMBOLS:
            return _bad(f"give 1 to {MAX_SYMBOLS} symbols")
        try:
            return _with_ttl("/api/market-feed", market.feed(symbols))
        except UnknownSymbolError as error:
            return _bad(f"unknown symbol(s): {error}")

    def arbitrage(args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        threshold = args.get("min_spread_bps", 5.0)
        if not isinstance(threshold, int | float) or not 0 <= threshold <= 10_000:
            return _bad("min_spread_bps must be a number in [0, 10000]")
        ttl = ENDPOINTS_BY_PATH["/api/arbitrage-signals"].ttl_seconds
        return _with_ttl("/api/arbitrage-signals", market.arbitrage(float(threshold), ttl))

    def knowledge(args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        try:
            data = insights(market, str(args.get("topic") or "market"))
        except UnknownTopicError as error:
            return _bad(f"unknown topic: {error}")
        return _with_ttl("/api/knowledge/insights", data)

    def mood(args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        try:
            data = sentiment(market, str(args.get("asset") or "SOL"))
        except UnknownTopicError as error:
            return _bad(f"unknown asset: {error}")
        return _with_ttl("/api/knowledge/sentiment", data)

    return {
        "market_feed": feed,
        "arbitrage_signals": arbitrage,
        "knowledge_insights": knowledge,
        "knowledge_sentiment": mood,
    }


def build(seller: Seller, market: MarketModel) -> MCPServer:
    """The MCP server of the premium API: its four paid tools."""
    server: MCPServer = MCPServer(
        SERVICE_NAME,
        instructions="Premium market and knowledge data. Every tool call is paid with x402 "
        "(USDC or CASH on Solana): the first answer without payment is the price.",
        log_level="WARNING",
    )
    data = handlers(market)

    def paid(tool: str, arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        meta = dict(ctx.request_context.meta or {})
        endpoint = ENDPOINTS_BY_PATH[TOOLS[tool]]
        try:
            fields = seller.call_paid_tool(endpoint, tool, data[tool], arguments, meta)
        except FacilitatorUnavailable as error:
            return CallToolResult.model_validate(
                {
                    "content": [{"type": "text", "text": f"facilitator_unavailable: {error}"}],
                    "isError": True,
                }  # fmt: skip
            )
        return CallToolResult.model_validate(fields)

    @server.tool(description=ENDPOINTS_BY_PATH[TOOLS["market_feed"]].description)
    def market_feed(
        ctx: Context,
        symbols: Annotated[
            str, Field(description="Comma-separated symbols (1-10), e.g. SOL,BTC,ETH")
        ] = ",".join(DEFAULT_SYMBOLS),
    ) -> CallToolResult:
        return paid("market_feed", {"symbols": symbols}, ctx)

    @server.tool(description=ENDPOINTS_BY_PATH[TOOLS["arbitrage_signals"]].description)
    def arbitrage_signals(
        ctx: Context,
        min_spread_bps: Annotated[
            float, Field(description="Smallest spread in basis points (0-10000)")
        ] = 5.0,
    ) -> CallToolResult:
        return paid("arbitrage_signals", {"min_spread_bps": min_spread_bps}, ctx)

    @server.tool(description=ENDPOINTS_BY_PATH[TOOLS["knowledge_insights"]].description)
    def knowledge_insights(
        ctx: Context,
        topic: Annotated[str, Field(description="'market' or a symbol, e.g. SOL")] = "market",
    ) -> CallToolResult:
        return paid("knowledge_insights", {"topic": topic}, ctx)

    @server.tool(description=ENDPOINTS_BY_PATH[TOOLS["knowledge_sentiment"]].description)
    def knowledge_sentiment(
        ctx: Context,
        asset: Annotated[str, Field(description="A symbol, e.g. SOL")] = "SOL",
    ) -> CallToolResult:
        return paid("knowledge_sentiment", {"asset": asset}, ctx)

    return server
