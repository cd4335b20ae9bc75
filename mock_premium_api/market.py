"""Market data: seeded random walks sampled at real time.

Each symbol's mid price is ``base * exp(sum of the last WINDOW increments)``;
increment ``k`` (one per STEP_SECONDS of wall-clock time) is drawn from a
generator seeded with ``(seed, symbol, k)``. So every process with the same
seed agrees on every figure at a given instant, figures move over time, and
the 24 h change is the ratio of two points of the same walk. Venues quote the
mid with a small seeded offset, and their volumes are seeded too.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

STEP_SECONDS = 60
DAY_STEPS = 24 * 60 * 60 // STEP_SECONDS
WINDOW = DAY_STEPS
VENUES: tuple[str, ...] = ("binance", "coinbase", "kraken", "jupiter", "orca")
# symbol -> (base price USD, per-step volatility, daily volume USD across venues)
SYMBOLS: dict[str, tuple[float, float, float]] = {
    "SOL": (150.0, 0.0012, 2.4e9),
    "BTC": (65000.0, 0.0007, 2.8e10),
    "ETH": (3200.0, 0.0009, 1.3e10),
    "JUP": (0.9, 0.0018, 1.5e8),
    "BONK": (0.000025, 0.0025, 2.0e8),
    "USDC": (1.0, 0.00001, 5.0e9),
}
DEFAULT_SYMBOLS = ("SOL", "BTC", "ETH")
MAX_VENUE_OFFSET = 0.004


class UnknownSymbolError(ValueError):
    """A requested symbol is not quoted by the feed."""


@lru_cache(maxsize=65536)
def _increment(seed: int, symbol: str, step: int) -> float:
    return random.Random(f"{seed}:{symbol}:{step}").gauss(0.0, 1.0)


_SUMS: dict[tuple[int, str, int], float] = {}


def walk_log_offset(seed: int, symbol: str, step: int) -> float:
    """Return the walk's log-price offset from the base price at ``step``.

    Args:
        seed: Generator seed.
        symbol: Quoted symbol.
        step: Index of the STEP_SECONDS interval since the epoch.

    Returns:
        ``volatility * sum of the last WINDOW standard-normal increments``.
    """
    key = (seed, symbol, step)
    cached = _SUMS.get(key)
    if cached is None:
        previous = _SUMS.get((seed, symbol, step - 1))
        if previous is not None:
            cached = (
                previous + _increment(seed, symbol, step) - _increment(seed, symbol, step - WINDOW)
            )
        else:
            cached = math.fsum(
                _increment(seed, symbol, k) for k in range(step - WINDOW + 1, step + 1)
            )
        if len(_SUMS) > 20000:
            _SUMS.clear()
        _SUMS[key] = cached
    volatility = SYMBOLS[symbol][1]
    # Scale so the 24 h window's spread stays plausible (sqrt(WINDOW) sigmas).
    return volatility * cached


@dataclass(frozen=True)
class MarketModel:
    """Seeded market data generator.

    Attributes:
        seed: Seed shared by every figure.
    """

    seed: int

    @staticmethod
    def step_at(timestamp: float) -> int:
        """Return the walk step covering a Unix timestamp."""
        return int(timestamp // STEP_SECONDS)

    def mid_price(self, symbol: str, step: int) -> float:
        """Mid price of ``symbol`` at ``step`` in USD."""
        base = SYMBOLS[symbol][0]
        return base * math.exp(walk_log_offset(self.seed, symbol, step))

    def venue_quote(self, symbol: str, venue: str, step: int) -> dict[str, Any]:
        """One venue's quote: price, volume and book depth at ``step``."""
        rng = random.Random(f"{self.seed}:{symbol}:{venue}:{step}")
        max_offset = min(MAX_VENUE_OFFSET, 3 * SYMBOLS[symbol][1])
        offset = rng.uniform(-max_offset, max_offset)
        price = self.mid_price(symbol, step) * (1.0 + offset)
        daily = SYMBOLS[symbol][2] / len(VENUES)
        volume_usd = daily * rng.lognormvariate(0.0, 0.25)
        depth_usd = volume_usd * rng.uniform(0.001, 0.004)
        return {
            "venue": venue,
            "price": _round_price(price),
            "volume_24h_usd": round(volume_usd, 2),
            "volume_24h_base": _round_price(volume_usd / price),
            "depth_usd": round(depth_usd, 2),
        }

    def symbol_snapshot(self, symbol: str, step: int) -> dict[str, Any]:
        """Everything the feed says about one symbol at ``step``."""
        if symbol not in SYMBOLS:
            raise UnknownSymbolError(symbol)
        price = self.mid_price(symbol, step)
        price_24h_ago = self.mid_price(symbol, step - DAY_STEPS)
        venues = [self.venue_quote(symbol, venue, step) for venue in VENUES]
        return {
            "symbol": symbol,
            "price_usd": _round_price(price),
            "price_24h_ago_usd": _round_price(price_24h_ago),
            "change_24h_pct": round((price / price_24h_ago - 1.0) * 100.0, 4),
            "volume_24h_usd": round(sum(v["volume_24h_usd"] for v in venues), 2),
            "venues": venues,
        }

    def feed(self, symbols: list[str], now: float | None = None) -> dict[str, Any]:
        """The market feed for ``symbols`` at ``now`` (default: the current time).

        Raises:
            UnknownSymbolError: A symbol is not quoted.
        """
        now = time.time() if now is None else now
        step = self.step_at(now)
        unknown = [s for s in symbols if s not in SYMBOLS]
        if unknown:
            raise UnknownSymbolError(", ".join(unknown))
        return {
            "as_of": iso_utc(now),
            "step_seconds": STEP_SECONDS,
            "prices": [self.symbol_snapshot(s, step) for s in symbols],
        }

    def arbitrage(
        self, min_spread_bps: float, ttl_seconds: int, now: float | None = None
    ) -> dict[str, Any]:
        """Cross-venue spreads of at least ``min_spread_bps`` at ``now``.

        For each symbol, buying at the cheapest venue and selling at each dearer
        one is a signal when the spread clears the threshold; its size is what
        the thinner of the two books can absorb.
        """
        now = time.time() if now is None else now
        step = self.step_at(now)
        signals = []
        for symbol in SYMBOLS:
            quotes = [self.venue_quote(symbol, v, step) for v in VENUES]
            buy = min(quotes, key=lambda q: q["price"])
            for sell in quotes:
                spread_bps = (sell["price"] / buy["price"] - 1.0) * 10_000
                if sell is buy or spread_bps < min_spread_bps:
                    continue
                size_usd = min(buy["depth_usd"], sell["depth_usd"])
                signals.append(
                    {
                        "symbol": symbol,
                        "buy_venue": buy["venue"],
                        "buy_price": buy["price"],
                        "sell_venue": sell["venue"],
                        "sell_price": sell["price"],
                        "spread_bps": round(spread_bps, 2),
                        "size_usd": round(size_usd, 2),
                        "size_base": _round_price(size_usd / buy["price"]),
                        "expected_profit_usd": round(size_usd * spread_bps / 10_000, 2),
                        "expires_at": iso_utc(now + ttl_seconds),
                    }
                )
        signals.sort(key=lambda s: s["spread_bps"], reverse=True)
        return {"as_of": iso_utc(now), "min_spread_bps": min_spread_bps, "signals": signals}


def iso_utc(timestamp: float) -> str:
    """Format a Unix timestamp as ISO 8601 UTC with milliseconds."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def _round_price(value: float) -> float:
    # Keep 6 significant decimals for tiny prices (BONK) and cents for large.
    if value == 0:
        return 0.0
    digits = max(2, 6 - int(math.floor(math.log10(abs(value)))))
    return round(value, digits)
