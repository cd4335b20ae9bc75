"""The prioritizer's scoring: a pure function from the situation to ranked decisions.

For each monitored API::

    age         = now - last ACCESSED request (never bought: infinitely old)
    urgency     = min(age / ttl, STALE_CAP)             (< 1 means still fresh)
    reliability = 1 / (1 + failures in the last hour)   (x 0.5 with a HALF_OPEN breaker)
    value       = weight * urgency * reliability
    score       = value / price                         (value of fresh data per token)

Data still fresh is never bought; an API whose seller breaker is OPEN, whose
price is unknown or above the per-request cap, or that arrives while payments
are paused for low balance is skipped. The rest are bought in score order
while each fits the tick's allowance (pacing bucket, hourly cap left, daily
budget left, the asset's balance above the threshold) and the tick's purchase
limit. When the best remaining API does not fit the pacing bucket, lower
ranked ones are skipped too ("saving the allowance"): when money is short the
highest-ranked APIs keep their freshness and the rest degrade first. Every
decision carries its scores and a one-line reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from autopay_app.scheduler import pacing

STALE_CAP = 4.0
BUY, SKIP = "BUY", "SKIP"
CLOSED = "CLOSED"
#: Decimal places amounts are shown with in reasons and details (the mint's decimals);
#: anything else keeps the ledger's 9.
ASSET_DECIMALS = {"USDC": 6, "CASH": 6}
LEDGER_DECIMALS = 9
#: How a decision reads in the audit trail (a BUY whose fetch failed becomes FAILED).
ACTION_NAMES = {BUY: "BOUGHT", SKIP: "SKIPPED", "FAILED": "FAILED"}


class Candidate(NamedTuple):
    """A monitored API as the ranker sees it (a tuple: a tick builds 1,000s)."""

    url: str
    weight: Decimal
    price: Decimal | None
    asset: str
    ttl_s: int
    last_access: datetime | None = None
    failures: int = 0
    breaker: str = CLOSED
    #: ``weight`` and ``price`` as floats when the caller has them (the ledger read
    #: converts in SQL; numeric -> float8 and float(Decimal) both round correctly)
    weight_f: float | None = None
    price_f: float | None = None

    @property
    def seller(self) -> str:
        return seller_of(self.url)


@lru_cache(maxsize=8192)
def seller_of(url: str) -> str:
    """The name of the circuit breaker guarding ``url``'s seller (cached: ticks repeat URLs)."""
    return f"seller:{urlsplit(url).netloc}"


@lru_cache(maxsize=4096)
def amount(value: Decimal, asset: str) -> str:
    """``value`` cut (never rounded up) to the asset's decimals, without trailing zeros.

    Budget arithmetic (the refilling pacing bucket) carries 28 significant
    digits; an audit trail shows what the mint can represent. Cached: a tick
    shows the same few prices 1,000s of times.
    """
    places = ASSET_DECIMALS.get(asset, LEDGER_DECIMALS)
    cut = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
    return format(cut.normalize(), "f") if cut else "0"


@dataclass(frozen=True)
class Budget:
    """What this tick may spend, and the wallet it spends from."""

    tokens: Decimal
    hour_left: Decimal
    day_left: Decimal
    per_request_cap: Decimal
    balances: Mapping[str, Decimal]
    threshold: Decimal
    paused: bool = False
    max_buys: int = 5
    daily_budget: Decimal = Decimal(0)


class Scores(NamedTuple):
    age_s: float | None
    urgency: float
    reliability: float
    value: float
    score: float


@dataclass
class Decision:
    """One API's fate this tick: BUY or SKIP, why, and the numbers behind it."""

    url: str
    action: str
    reason: str
    scores: Scores
    price: Decimal | None
    asset: str
    ttl_s: int
    weight: Decimal
    rank: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        """JSON-ready audit details."""
        s = self.scores
        return {
            "api": self.url,
            "decision": ACTION_NAMES.get(self.action, self.action),
            "reason": self.reason,
            "rank": self.rank,
            "price": None if self.price is None else amount(self.price, self.asset),
            "asset": self.asset,
            "weight": str(self.weight),
            "ttl_s": self.ttl_s,
            "scores": {
                "age_s": None if s.age_s is None else round(s.age_s, 3),
                "urgency": round(s.urgency, 4),
                "reliability": round(s.reliability, 4),
                "value": round(s.value, 6),
                "score": round(s.score, 6),
            },
            **(
                {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in self.extra.items()}
                if self.extra
                else {}
            ),
        }


def score(c: Candidate, now: datetime) -> Scores:
    """Urgency, reliability, value and value-per-price of ``c`` at ``now``."""
    if c.last_access is None:
        age, urgency = None, STALE_CAP
    else:
        age = max((now - c.last_access).total_seconds(), 0.0)
        urgency = min(age / c.ttl_s, STALE_CAP)
    reliability = 1.0 / (1 + c.failures) * (0.5 if c.breaker == "HALF_OPEN" else 1.0)
    weight = c.weight_f if c.weight_f is not None else float(c.weight)
    value = weight * urgency * reliability
    if c.price_f is not None:
        price = c.price_f
    else:
        price = float(c.price) if c.price else 0.0
    return Scores(age, urgency, reliability, value, value / price if price else 0.0)


def _hard_skip(c: Candidate, s: Scores, budget: Budget) -> str | None:
    if c.price is None:
        return "no price: neither the monitor entry nor the seller's catalog lists one"
    if s.age_s is not None and s.age_s < c.ttl_s:
        return (
            f"fresh: bought {s.age_s:.0f}s ago, ttl {c.ttl_s}s (stale in {c.ttl_s - s.age_s:.0f}s)"
        )
    if c.breaker == "OPEN":
        return f"circuit breaker {c.seller} is OPEN: the seller is failing, not calling it"
    have = budget.balances.get(c.asset, Decimal(0))
    if have < budget.threshold or (budget.paused and not budget.balances):
        return (
            f"payments paused: {c.asset} balance {amount(have, c.asset)} is below the threshold "
            f"{amount(budget.threshold, c.asset)} (LOW_BALANCE); waiting for a top-up"
        )
    if c.price > budget.per_request_cap:
        return (
            f"price {amount(c.price, c.asset)} is above the per-request cap "
            f"{amount(budget.per_request_cap, c.asset)}"
        )
    return None


def _budget_skip(c: Candidate, budget: Budget, spent: Decimal, by_asset: Decimal) -> str | None:
    assert c.price is not None
    price = amount(c.price, c.asset)
    if c.price > budget.day_left - spent:
        left = amount(budget.day_left - spent, c.asset)
        return f"daily budget: {left} left for today, price {price}"
    if c.price > budget.hour_left - spent:
        return (
            f"hourly cap: {amount(budget.hour_left - spent, c.asset)} left this hour, price {price}"
        )
    have = budget.balances.get(c.asset, Decimal(0)) - by_asset
    if have - c.price < budget.threshold:
        return (
            f"{c.asset} balance {amount(have, c.asset)} would fall below the threshold "
            f"{amount(budget.threshold, c.asset)}"
        )
    return None


def _buy_reason(rank: int, c: Candidate, s: Scores, budget: Budget, spent: Decimal) -> str:
    assert c.price is not None
    allowance = min(budget.tokens, budget.hour_left, budget.day_left) - spent
    return (
        f"rank {rank}, score {s.score:.4g} = weight {c.weight.normalize():f} x urgency "
        f"{s.urgency:.2f} x reliability {s.reliability:.2f} / price "
        f"{amount(c.price, c.asset)}; fits the allowance {amount(allowance, c.asset)}"
    )


def decide(candidates: list[Candidate], budget: Budget, now: datetime) -> list[Decision]:
    """Rank ``candidates`` and decide each: bought first, in score order, then the skipped."""
    ranked, out = [], []
    for c in candidates:
        s = score(c, now)
        reason = _hard_skip(c, s, budget)
        if reason:
            out.append(Decision(c.url, SKIP, reason, s, c.price, c.asset, c.ttl_s, c.weight))
        else:
            ranked.append((-s.score, c.url, c, s))
    ranked.sort(key=_by_score)
    per_asset: dict[str, Decimal] = {}
    spent, buys, saving = Decimal(0), 0, None
    decided = []
    for rank, (_, url, c, s) in enumerate(ranked, 1):
        assert c.price is not None
        if buys >= budget.max_buys:
            # the tick's purchases are made: the rest read the same (no budget arithmetic)
            limit = f"tick limit: {buys} purchases already this tick"
            decided += [
                Decision(
                    r[1], SKIP, limit, r[3], r[2].price, r[2].asset, r[2].ttl_s, r[2].weight, n
                )
                for n, r in enumerate(ranked[rank - 1 :], rank)
            ]
            break
        d = Decision(url, SKIP, "", s, c.price, c.asset, c.ttl_s, c.weight, rank)
        asset_spent = per_asset.get(c.asset, Decimal(0))
        if saving is not None:
            d.reason = f"saving the allowance for higher-ranked {saving}"
        elif (why := _budget_skip(c, budget, spent, asset_spent)) is not None:
            d.reason = why
        elif c.price > budget.tokens - spent:
            wait = pacing.seconds_until(budget.tokens - spent, c.price, budget.daily_budget)
            d.reason = (
                f"pacing: {amount(budget.tokens - spent, c.asset)} in the bucket, "
                f"price {amount(c.price, c.asset)}; affordable in {wait:.0f}s"
            )
            d.extra["affordable_in_s"] = round(wait, 1)
            saving = c.url
        else:
            d.action = BUY
            d.reason = _buy_reason(rank, c, s, budget, spent)
            spent, buys = spent + c.price, buys + 1
            per_asset[c.asset] = asset_spent + c.price
        decided.append(d)
    out.sort(key=_skipped_order)
    return decided + out


def _by_score(r: tuple[float, str, Candidate, Scores]) -> tuple[float, str]:
    return r[0], r[1]


def _skipped_order(d: Decision) -> tuple[float, str]:
    return -d.scores.score, d.url


def plan(
    decisions: list[Decision], budget: Budget, now: datetime, tokens_left: Decimal
) -> dict[str, Any] | None:
    """The next purchase the agent expects: one waiting for pacing, else the next to go stale."""
    for d in decisions:
        if d.action == SKIP and "affordable_in_s" in d.extra and d.price is not None:
            wait = pacing.seconds_until(tokens_left, d.price, budget.daily_budget)
            at = now + timedelta(seconds=min(wait, 86400 * 365))
            return {"api": d.url, "at": at.isoformat(), "reason": "waiting for the pacing bucket"}
    upcoming = []
    for d in decisions:
        age = 0.0 if d.action == BUY else d.scores.age_s
        if age is not None and d.price is not None and age < d.ttl_s:
            upcoming.append((now + timedelta(seconds=d.ttl_s - age), d.url))
    if not upcoming:
        return None
    at, url = min(upcoming)
    return {"api": url, "at": at.isoformat(), "reason": "its data goes stale then"}
