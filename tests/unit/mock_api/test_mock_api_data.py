"""Market and knowledge data: seeded, consistent, plausible."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_premium_api.knowledge import UnknownTopicError, insights, sentiment
from mock_premium_api.market import (
    DAY_STEPS,
    STEP_SECONDS,
    SYMBOLS,
    VENUES,
    MarketModel,
    UnknownSymbolError,
)

NOW = 1_790_000_000.0  # a fixed instant in 2026


def test_same_seed_and_time_give_the_same_feed():
    assert MarketModel(1).feed(["SOL", "BTC"], NOW) == MarketModel(1).feed(["SOL", "BTC"], NOW)
    assert MarketModel(1).feed(["SOL"], NOW) != MarketModel(2).feed(["SOL"], NOW)


def test_feed_moves_with_time_and_stamps_it():
    model = MarketModel(5)
    earlier = model.feed(["SOL"], NOW)
    later = model.feed(["SOL"], NOW + STEP_SECONDS)
    assert earlier["prices"][0]["price_usd"] != later["prices"][0]["price_usd"]
    assert earlier["as_of"] == "2026-09-21T14:13:20.000+00:00"


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    offset=st.integers(0, 10 * DAY_STEPS * STEP_SECONDS),
    symbol=st.sampled_from(sorted(SYMBOLS)),
)
def test_snapshot_is_internally_consistent(seed, offset, symbol):
    snap = MarketModel(seed).feed([symbol], NOW + offset)["prices"][0]
    base = SYMBOLS[symbol][0]
    assert 0.5 * base < snap["price_usd"] < 2 * base
    change = (snap["price_usd"] / snap["price_24h_ago_usd"] - 1) * 100
    assert math.isclose(change, snap["change_24h_pct"], rel_tol=1e-3, abs_tol=1e-3)
    assert [v["venue"] for v in snap["venues"]] == list(VENUES)
    total = sum(v["volume_24h_usd"] for v in snap["venues"])
    assert math.isclose(total, snap["volume_24h_usd"], rel_tol=1e-9)
    for venue in snap["venues"]:
        assert abs(venue["price"] / snap["price_usd"] - 1) <= 0.0041
        assert venue["volume_24h_usd"] > 0 and venue["depth_usd"] > 0


def test_the_24h_ago_price_is_the_walk_a_day_earlier():
    model = MarketModel(11)
    today = model.feed(["ETH"], NOW)["prices"][0]
    yesterday = model.feed(["ETH"], NOW - DAY_STEPS * STEP_SECONDS)["prices"][0]
    assert today["price_24h_ago_usd"] == yesterday["price_usd"]


def test_unknown_symbol_is_refused():
    with pytest.raises(UnknownSymbolError, match="DOGE"):
        MarketModel(1).feed(["SOL", "DOGE"], NOW)


@pytest.mark.parametrize("threshold", [0.0, 10.0, 40.0])
def test_arbitrage_signals_clear_the_threshold_and_match_the_feed(threshold):
    model = MarketModel(3)
    signals = model.arbitrage(threshold, ttl_seconds=5, now=NOW)
    feed = model.feed(sorted(SYMBOLS), NOW)
    quotes = {(p["symbol"], v["venue"]): v["price"] for p in feed["prices"] for v in p["venues"]}
    assert signals["as_of"] == feed["as_of"]
    spreads = [s["spread_bps"] for s in signals["signals"]]
    assert spreads == sorted(spreads, reverse=True)
    for signal in signals["signals"]:
        assert signal["spread_bps"] >= threshold
        assert quotes[(signal["symbol"], signal["buy_venue"])] == signal["buy_price"]
        assert quotes[(signal["symbol"], signal["sell_venue"])] == signal["sell_price"]
        assert signal["sell_price"] > signal["buy_price"]
        assert signal["size_usd"] > 0
        assert signal["expires_at"] == "2026-09-21T14:13:25.000+00:00"
    assert len(model.arbitrage(0.0, 5, NOW)["signals"]) >= len(signals["signals"])


def test_insights_cite_figures_from_the_feed_at_the_same_instant():
    model = MarketModel(8)
    report = insights(model, "market", NOW)
    feed = {p["symbol"]: p for p in model.feed(["SOL", "BTC", "ETH"], NOW)["prices"]}
    assert report["topic"] == "market"
    assert len(report["insights"]) == 5
    for item in report["insights"]:
        assert 0.55 <= item["confidence"] <= 0.95
        for cite in item["cites"]:
            snap = feed[cite["symbol"]]
            if cite["field"].startswith("venues."):
                venue = cite["field"].split(".")[1]
                actual = next(v["price"] for v in snap["venues"] if v["venue"] == venue)
            else:
                actual = snap[cite["field"]]
            assert actual == cite["value"]
            assert str(cite["value"]) in item["text"]


def test_insights_on_one_symbol_and_unknown_topic():
    report = insights(MarketModel(8), "sol", NOW)
    assert report["topic"] == "SOL"
    assert {c["symbol"] for i in report["insights"] for c in i["cites"]} == {"SOL"}
    with pytest.raises(UnknownTopicError):
        insights(MarketModel(8), "weather", NOW)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), symbol=st.sampled_from(sorted(SYMBOLS)))
def test_sentiment_is_bounded_and_labelled(seed, symbol):
    data = sentiment(MarketModel(seed), symbol.lower(), NOW)
    assert data["asset"] == symbol
    assert -1 <= data["score"] <= 1
    assert data["trend"] in {"rising", "falling", "flat"}
    assert data["label"] in {"bullish", "bearish", "neutral"}
    assert math.isclose(data["bullish_ratio"] + data["bearish_ratio"], 1.0, abs_tol=1e-4)
    assert data["mentions_24h"] > 0
    delta = data["score"] - data["score_6h_ago"]
    expected = "rising" if delta > 0.05 else "falling" if delta < -0.05 else "flat"
    assert data["trend"] == expected or abs(abs(delta) - 0.05) < 1e-3


def test_sentiment_unknown_asset():
    with pytest.raises(UnknownTopicError):
        sentiment(MarketModel(1), "DOGE", NOW)
