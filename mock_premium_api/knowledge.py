"""Knowledge data: insights and sentiment derived from the market walk.

Insights are template-generated sentences whose every figure is cited from
the market feed at the same instant (``cites`` lists symbol, field and value,
so a reader can check them against ``/api/market-feed``). Sentiment follows
the 24 h price change plus seeded noise, so it is plausible and repeatable.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from .market import DAY_STEPS, DEFAULT_SYMBOLS, SYMBOLS, MarketModel, iso_utc

TOPICS = ("market", *SYMBOLS)


class UnknownTopicError(ValueError):
    """The requested topic or asset is not covered."""


def insights(model: MarketModel, topic: str, now: float | None = None) -> dict[str, Any]:
    """Generate insights on ``topic`` ("market" or a symbol) at ``now``.

    Args:
        model: The market model the figures come from.
        topic: ``market`` for an overview, or a symbol such as ``SOL``.
        now: Unix time; the current time when omitted.

    Returns:
        ``{"topic", "as_of", "insights": [{"title", "text", "confidence", "cites"}]}``.

    Raises:
        UnknownTopicError: The topic is not covered.
    """
    now = time.time() if now is None else now
    key = topic.upper() if topic.upper() in SYMBOLS else topic.lower()
    if key not in TOPICS:
        raise UnknownTopicError(topic)
    step = model.step_at(now)
    symbols = list(DEFAULT_SYMBOLS) if key == "market" else [key]
    snapshots = [model.symbol_snapshot(s, step) for s in symbols]
    items = [_price_insight(s) for s in snapshots]
    items.append(_venue_insight(snapshots))
    if key == "market":
        items.append(_leader_insight(snapshots))
    rng = random.Random(f"{model.seed}:insight:{key}:{step}")
    for item in items:
        item["confidence"] = round(rng.uniform(0.55, 0.95), 2)
    return {"topic": key, "as_of": iso_utc(now), "insights": items}


def _signed(value: float) -> str:
    # Quote the cited figure exactly as cited, with an explicit sign.
    return f"+{value}" if value > 0 else str(value)


def _cite(symbol: str, field: str, value: Any) -> dict[str, Any]:
    return {"symbol": symbol, "field": field, "value": value, "source": "/api/market-feed"}


def _price_insight(snap: dict[str, Any]) -> dict[str, Any]:
    symbol, change = snap["symbol"], snap["change_24h_pct"]
    mood = "rallied" if change > 1 else "slid" if change < -1 else "held steady"
    return {
        "title": f"{symbol} {mood} over 24 h",
        "text": (
            f"{symbol} trades at ${snap['price_usd']}, {_signed(change)}% over 24 h "
            f"(from ${snap['price_24h_ago_usd']}), on ${snap['volume_24h_usd']} "
            "of volume across venues."
        ),
        "cites": [
            _cite(symbol, "price_usd", snap["price_usd"]),
            _cite(symbol, "change_24h_pct", change),
            _cite(symbol, "price_24h_ago_usd", snap["price_24h_ago_usd"]),
            _cite(symbol, "volume_24h_usd", snap["volume_24h_usd"]),
        ],
    }


def _venue_insight(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    widest = None
    for snap in snapshots:
        cheap = min(snap["venues"], key=lambda v: v["price"])
        dear = max(snap["venues"], key=lambda v: v["price"])
        spread = (dear["price"] / cheap["price"] - 1.0) * 10_000
        if widest is None or spread > widest[0]:
            widest = (spread, snap["symbol"], cheap, dear)
    assert widest is not None
    spread, symbol, cheap, dear = widest
    return {
        "title": f"Widest venue dispersion: {symbol}",
        "text": (
            f"{symbol} is cheapest on {cheap['venue']} at ${cheap['price']} and dearest on "
            f"{dear['venue']} at ${dear['price']}, a {spread:.1f} bp gap."
        ),
        "cites": [
            _cite(symbol, f"venues.{cheap['venue']}.price", cheap["price"]),
            _cite(symbol, f"venues.{dear['venue']}.price", dear["price"]),
        ],
    }


def _leader_insight(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    best = max(snapshots, key=lambda s: s["change_24h_pct"])
    worst = min(snapshots, key=lambda s: s["change_24h_pct"])
    return {
        "title": f"{best['symbol']} leads, {worst['symbol']} lags",
        "text": (
            f"{best['symbol']} is the strongest of the majors ({_signed(best['change_24h_pct'])}%)"
            f" while {worst['symbol']} is the weakest ({_signed(worst['change_24h_pct'])}%)."
        ),
        "cites": [
            _cite(best["symbol"], "change_24h_pct", best["change_24h_pct"]),
            _cite(worst["symbol"], "change_24h_pct", worst["change_24h_pct"]),
        ],
    }


def sentiment(model: MarketModel, asset: str, now: float | None = None) -> dict[str, Any]:
    """Sentiment metrics for ``asset`` at ``now``.

    The score (-1..1) leans on the 24 h price change; mention volume grows with
    the size of the move; the trend compares the score with six hours earlier.

    Raises:
        UnknownTopicError: The asset is not covered.
    """
    now = time.time() if now is None else now
    symbol = asset.upper()
    if symbol not in SYMBOLS:
        raise UnknownTopicError(asset)
    step = model.step_at(now)
    score, mentions = _score(model, symbol, step)
    earlier, _ = _score(model, symbol, step - DAY_STEPS // 4)
    delta = score - earlier
    trend = "rising" if delta > 0.05 else "falling" if delta < -0.05 else "flat"
    bullish = round((1 + score) / 2, 4)
    return {
        "asset": symbol,
        "as_of": iso_utc(now),
        "score": round(score, 4),
        "label": "bullish" if score > 0.2 else "bearish" if score < -0.2 else "neutral",
        "bullish_ratio": bullish,
        "bearish_ratio": round(1 - bullish, 4),
        "mentions_24h": mentions,
        "trend": trend,
        "score_6h_ago": round(earlier, 4),
        "sources": ["x.com", "reddit", "telegram", "news"],
    }


def _score(model: MarketModel, symbol: str, step: int) -> tuple[float, int]:
    price = model.mid_price(symbol, step)
    change = price / model.mid_price(symbol, step - DAY_STEPS) - 1.0
    rng = random.Random(f"{model.seed}:sentiment:{symbol}:{step}")
    score = math.tanh(change * 12 + rng.gauss(0.0, 0.15))
    base_mentions = {"BTC": 90_000, "ETH": 60_000, "SOL": 45_000}.get(symbol, 8_000)
    mentions = int(base_mentions * (1 + 8 * abs(change)) * rng.lognormvariate(0.0, 0.1))
    return score, mentions
