"""HTTP views: the paid data endpoints and the free catalog and health check.

The data views never see payment: the SDK middleware and the gate in front
of them only let a request through once its payment verified, and release
the response only after settlement.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from .catalog import ENDPOINTS_BY_PATH, build_catalog
from .config import MockApiConfig
from .faults import FaultState
from .knowledge import UnknownTopicError, insights, sentiment
from .ledger import PaymentLedger
from .market import DEFAULT_SYMBOLS, MarketModel, UnknownSymbolError
from .x402_setup import FacilitatorUnavailable, Seller

MAX_SYMBOLS = 10


@dataclass
class MockApiState:
    """What the views share, kept in ``app.extensions["mock_api"]``."""

    config: MockApiConfig
    faults: FaultState
    seller: Seller
    ledger: PaymentLedger
    market: MarketModel


bp = Blueprint("mock_api", __name__)


def _state() -> MockApiState:
    return current_app.extensions["mock_api"]


def _respond(path: str, data: dict[str, Any]) -> Any:
    ttl = ENDPOINTS_BY_PATH[path].ttl_seconds
    return jsonify({**data, "ttl_seconds": ttl})


def _bad_request(message: str) -> Any:
    # A 4xx from the handler makes the SDK cancel settlement: no charge.
    return jsonify(error="bad_request", detail=message), 400


def _slow_down() -> None:
    delay_ms = _state().faults.current.delay_ms
    if delay_ms:
        time.sleep(delay_ms / 1000)


@bp.get("/api/market-feed")
def market_feed() -> Any:
    """Prices, 24 h change and volume per venue for the requested symbols."""
    raw = request.args.get("symbols", ",".join(DEFAULT_SYMBOLS))
    symbols = [s.strip().upper() for s in raw.split(",") if s.strip()]
    if not symbols or len(symbols) > MAX_SYMBOLS:
        return _bad_request(f"give 1 to {MAX_SYMBOLS} symbols")
    _slow_down()
    try:
        data = _state().market.feed(list(dict.fromkeys(symbols)))
    except UnknownSymbolError as error:
        return _bad_request(f"unknown symbol(s): {error}")
    return _respond("/api/market-feed", data)


@bp.get("/api/arbitrage-signals")
def arbitrage_signals() -> Any:
    """Cross-venue spreads above ``min_spread_bps`` with size and expiry."""
    try:
        threshold = float(request.args.get("min_spread_bps", "5"))
    except ValueError:
        return _bad_request("min_spread_bps must be a number")
    if not 0 <= threshold <= 10_000:
        return _bad_request("min_spread_bps must be in [0, 10000]")
    _slow_down()
    ttl = ENDPOINTS_BY_PATH["/api/arbitrage-signals"].ttl_seconds
    return _respond("/api/arbitrage-signals", _state().market.arbitrage(threshold, ttl))


@bp.get("/api/knowledge/insights")
def knowledge_insights() -> Any:
    """Generated insights on a topic, citing feed figures."""
    _slow_down()
    try:
        data = insights(_state().market, request.args.get("topic", "market"))
    except UnknownTopicError as error:
        return _bad_request(f"unknown topic: {error}")
    return _respond("/api/knowledge/insights", data)


@bp.get("/api/knowledge/sentiment")
def knowledge_sentiment() -> Any:
    """Sentiment score, mentions and trend for an asset."""
    _slow_down()
    try:
        data = sentiment(_state().market, request.args.get("asset", "SOL"))
    except UnknownTopicError as error:
        return _bad_request(f"unknown asset: {error}")
    return _respond("/api/knowledge/sentiment", data)


@bp.get("/api/catalog")
def catalog() -> Any:
    """Every paid endpoint with its current payment requirements."""
    state = _state()
    base_url = request.host_url.rstrip("/")
    try:
        listing = build_catalog(base_url, state.seller.requirements_for)
    except FacilitatorUnavailable as error:
        retry = str(state.config.retry_after_seconds)
        body = {"error": "facilitator_unavailable", "detail": str(error)}
        return jsonify(body), 503, {"Retry-After": retry}
    listing["payTo"] = state.config.pay_to
    return jsonify(listing)


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process answers; says whether the facilitator was reached."""
    state = _state()
    return jsonify(
        status="ok",
        pay_to=state.config.pay_to,
        network=state.config.network,
        facilitator_url=state.config.facilitator_url,
        faults=state.faults.current.as_json(),
    )
