"""The paid endpoints and the free catalog that lists them.

``ENDPOINTS`` is the single source of truth: the x402 routes, the catalog and
the default prices are all derived from it, so the catalog always matches what
the 402 answers demand (both are built from the same payment requirements).
The catalog is shaped like an x402 Bazaar discovery listing
(``{"x402Version", "items": [...], "pagination"}``) with extra fields the
agent needs: path, method, category, ttl_seconds and decimal prices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

MARKET_DATA = "MARKET_DATA"
KNOWLEDGE_DATA = "KNOWLEDGE_DATA"
SERVICE_NAME = "Autopay Mock Premium API"


@dataclass(frozen=True)
class Endpoint:
    """One paid endpoint.

    Attributes:
        path: URL path, e.g. ``/api/market-feed``.
        description: What the data is (also shown in the 402 resource info).
        category: ``MARKET_DATA`` or ``KNOWLEDGE_DATA``.
        ttl_seconds: How long a response stays fresh.
        default_price: Price per request in USDC and in CASH (decimal).
        query: Query parameters the endpoint understands, name -> meaning.
    """

    path: str
    description: str
    category: str
    ttl_seconds: int
    default_price: Decimal
    query: dict[str, str]

    @property
    def method(self) -> str:
        """HTTP method (all paid endpoints are GET)."""
        return "GET"


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/api/market-feed",
        "Spot prices, 24 h change and volume per venue for SOL, BTC, ETH and more",
        MARKET_DATA,
        15,
        Decimal("0.01"),
        {"symbols": "comma-separated symbols, default SOL,BTC,ETH"},
    ),
    Endpoint(
        "/api/arbitrage-signals",
        "Cross-venue spreads above a threshold, with executable size and expiry",
        MARKET_DATA,
        5,
        Decimal("0.05"),
        {"min_spread_bps": "minimum spread in basis points, default 5"},
    ),
    Endpoint(
        "/api/knowledge/insights",
        "AI-style market insights on a topic, citing figures from the market feed",
        KNOWLEDGE_DATA,
        300,
        Decimal("0.02"),
        {"topic": "market | SOL | BTC | ETH | ..., default market"},
    ),
    Endpoint(
        "/api/knowledge/sentiment",
        "Sentiment metrics for an asset: score, volume of mentions, trend",
        KNOWLEDGE_DATA,
        60,
        Decimal("0.01"),
        {"asset": "asset symbol, default SOL"},
    ),
)

ENDPOINTS_BY_PATH: dict[str, Endpoint] = {e.path: e for e in ENDPOINTS}

# (endpoint) -> (list of x402 v2 PaymentRequirements dicts, {symbol: decimal price})
RequirementsFn = Callable[[Endpoint], tuple[list[dict[str, Any]], dict[str, Decimal]]]


def build_catalog(base_url: str, requirements_for: RequirementsFn) -> dict[str, Any]:
    """Build the catalog listing every paid endpoint.

    Args:
        base_url: Absolute URL of this API, without trailing slash.
        requirements_for: Gives the current payment requirements and prices of
            an endpoint (the same ones its 402 answer carries).

    Returns:
        A Bazaar-style discovery listing as a JSON-ready dict.
    """
    now = datetime.now(UTC).isoformat()
    items = []
    for endpoint in ENDPOINTS:
        accepts, prices = requirements_for(endpoint)
        items.append(
            {
                "resource": f"{base_url}{endpoint.path}",
                "type": "http",
                "x402Version": 2,
                "path": endpoint.path,
                "method": endpoint.method,
                "description": endpoint.description,
                "mimeType": "application/json",
                "serviceName": SERVICE_NAME,
                "category": endpoint.category,
                "tags": [endpoint.category],
                "ttl_seconds": endpoint.ttl_seconds,
                "query": endpoint.query,
                "accepts": accepts,
                "prices": {symbol: format_decimal(p) for symbol, p in prices.items()},
                "networks": sorted({a["network"] for a in accepts}),
                "assets": [a["asset"] for a in accepts],
                "lastUpdated": now,
            }
        )
    return {
        "x402Version": 2,
        "as_of": now,
        "items": items,
        "pagination": {"limit": len(items), "offset": 0, "total": len(items)},
    }


def format_decimal(value: Decimal) -> str:
    """Format a decimal price without exponent or trailing zeros ("0.01")."""
    return format(value.normalize(), "f")
