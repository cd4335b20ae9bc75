"""One prioritizer tick for one agent: gather, score, buy the chosen, record every decision.

The job around it is thin: :func:`tick` reads the situation in one transaction
with :func:`autopay_app.ledger.monitoring.snapshot` (the settings row and the
configured APIs created when absent; the per-API figures in one indexed statement
over ``monitored_apis`` and ``api_requests``, or over ``api_requests`` alone while the
process holds the APIs' configuration at their ``apis_version``; settings, policy, balance and
breakers; the spend windows; the paid fetches in flight), fills prices and TTLs
the monitor entries leave open from the seller's catalog, refills the pacing
bucket, lets :func:`autopay_app.scheduler.prioritizer.decide` rank (APIs with a
paid-fetch job queued or running sit this tick out), and in one statement
(:func:`autopay_app.ledger.decisions.record`) writes one AGENT_DECISION audit
event per BUY and one holding all the tick's SKIPs (reason, rank and score of
each), defers one ``paid_fetch`` job per BUY (:mod:`autopay_app.tasks`) and
stores the pacing state: a decision without its job, or a job without its
decision, cannot exist. Workers run the jobs; each decision names its job and
the request id the job will write. The events of one tick share ``details.tick``:
the tick's time in milliseconds since the epoch, a number (the full-text index
over ``details`` tokenizes strings only).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from autopay_app.ledger import monitoring, queue
from autopay_app.scheduler import pacing, prioritizer
from autopay_app.scheduler.config import SchedulerConfig
from autopay_app.scheduler.prioritizer import (
    BUY,
    CLOSED,
    SKIP,
    Budget,
    Candidate,
    Decision,
    seller_of,
)
from autopay_app.tasks import config as worker_config

DEFAULT_TTL_S = 60
FAILED = "FAILED"


class _Catalog(Protocol):
    def entries(self, base: str) -> list[dict[str, Any]]: ...

    def entry(self, url: str) -> dict[str, Any] | None: ...


class _Settings(Protocol):
    @property
    def premium_api_url(self) -> str: ...


class _Policy(Protocol):
    @property
    def max_quote_drift(self) -> Decimal: ...


class Agent(Protocol):
    """What a tick uses of :class:`autopay_app.agent.Agent` (the benchmark passes its own)."""

    @property
    def agent_id(self) -> uuid.UUID: ...

    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> _Settings: ...

    @property
    def catalog(self) -> _Catalog: ...

    def session(self) -> Any: ...

    def policy(self) -> _Policy: ...

    def refresh_balances(self) -> Any: ...


@dataclass
class TickResult:
    """What one tick decided and bought."""

    agent: str
    at: datetime
    decisions: list[Decision]
    tokens_left: Decimal
    plan: dict[str, Any] | None

    @property
    def bought(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == BUY]

    def details(self) -> list[dict[str, Any]]:
        return [d.details() for d in self.decisions]


def import_catalog(agent: Agent, base_url: str, weight: Decimal = Decimal(1)) -> int:
    """Monitor every item of the seller's catalog at ``base_url``; returns how many were new."""
    added = 0
    for item in agent.catalog.entries(base_url.rstrip("/")):
        url = str(item.get("resource") or base_url.rstrip("/") + str(item.get("path", "")))
        price, ttl = listed(item, "USDC")
        added += monitoring.upsert_api(
            agent.session(),
            agent.agent_id,
            url,
            weight=weight,
            price=price,
            ttl_seconds=ttl,
            source="catalog",
            replace=False,
        )
    return added


def listed(item: dict[str, Any], asset: str) -> tuple[Decimal | None, int | None]:
    """Price in ``asset`` and TTL of a catalog item (None when it lists none)."""
    price = (item.get("prices") or {}).get(asset)
    ttl = item.get("ttl_seconds")
    try:
        return (Decimal(str(price)) if price else None), (int(ttl) if ttl else None)
    except (ArithmeticError, ValueError):
        return None, None


def _asset(row: monitoring.ApiState, allowed: list[str]) -> str:
    if row.asset:
        return row.asset
    return "USDC" if "USDC" in allowed or not allowed else allowed[0]


def candidates(
    snap: monitoring.Snapshot, lookup: Callable[[str], dict[str, Any] | None]
) -> list[Candidate]:
    """Monitor entries as candidates; ``lookup(url)`` (the catalog) fills a missing price/TTL."""
    out = []
    for row in snap.apis:
        asset = _asset(row, snap.allowed_assets)
        price, ttl, price_f = row.price, row.ttl_seconds, row.price_f
        if price is None or ttl is None:
            catalog_price, catalog_ttl = listed(lookup(row.url) or {}, asset)
            if price is None and catalog_price is not None:
                price, price_f = catalog_price, float(catalog_price)
            ttl = ttl or catalog_ttl or DEFAULT_TTL_S
        breaker = snap.breakers.get(seller_of(row.url), CLOSED) if snap.breakers else CLOSED
        out.append(
            Candidate(
                row.url,
                row.weight,
                price,
                asset,
                ttl,
                row.last_access,
                row.failures,
                breaker,
                row.weight_f,
                price_f,
            )
        )
    return out


def budget_for(snap: monitoring.Snapshot, cands: list[Candidate], now: datetime) -> Budget:
    """The tick's allowance: pacing bucket, hourly cap left, daily budget left, the wallet."""
    dearest = max((c.price for c in cands if c.price is not None), default=Decimal(0))
    cap = pacing.capacity(snap.daily_budget, snap.burst_fraction, dearest)
    tokens = pacing.refill(snap.pacing_tokens, snap.pacing_at, now, snap.daily_budget, cap)
    return Budget(
        tokens=tokens,
        hour_left=snap.hourly_cap - snap.spent_hour,
        day_left=min(snap.daily_cap, snap.daily_budget) - snap.spent_day,
        per_request_cap=snap.per_request_cap,
        balances=snap.balances,
        threshold=snap.threshold,
        paused=snap.paused,
        max_buys=snap.max_buys_per_tick,
        daily_budget=snap.daily_budget,
    )


def _skip_in_flight(cands: list[Candidate], busy: dict[str, int]) -> list[Decision]:
    """A job for the API is queued or running: this tick leaves it alone."""
    return [
        Decision(
            c.url,
            SKIP,
            f"in flight: job {busy[c.url]} is queued or running",
            prioritizer.Scores(None, 0.0, 0.0, 0.0, 0.0),
            c.price,
            c.asset,
            c.ttl_s,
            c.weight,
            extra={"job_id": busy[c.url]},
        )
        for c in cands
        if c.url in busy
    ]


def _job(agent: Agent, d: Decision, drift: Decimal) -> queue.PaidFetchJob:
    """The paid-fetch job of BUY ``d``: its request and decision ids chosen now."""
    assert d.price is not None
    job = queue.PaidFetchJob(
        agent=agent.name,
        url=d.url,
        origin="PHASE3",
        request_id=uuid.uuid4(),
        decision_id=uuid.uuid4(),
        max_amount=d.price * (1 + drift),
        asset=d.asset,
    )
    d.extra |= {"request_id": job.request_id, "decision_id": job.decision_id}
    return job


def read(agent: Agent, cfg: SchedulerConfig, now: datetime) -> monitoring.Snapshot:
    """The tick's inputs (one transaction); the settings row and the configured APIs are
    created when absent, and an agent monitoring nothing and configured with nothing
    monitors its seller's catalog."""
    defaults = (cfg.daily_budget, cfg.pacing_burst, cfg.max_buys_per_tick)

    def snapshot() -> monitoring.Snapshot:
        return monitoring.snapshot(
            agent.session(),
            agent.agent_id,
            now,
            stale_cap=prioritizer.STALE_CAP,
            default_ttl=DEFAULT_TTL_S,
            agent_name=agent.name,
            defaults=defaults,
            configured=cfg.monitored,
        )

    snap = snapshot()
    if not cfg.monitored and not snap.has_apis:
        import_catalog(agent, agent.settings.premium_api_url)
        snap = snapshot()
    if not snap.balances:
        agent.refresh_balances()  # first tick before any balance read
        snap = snapshot()
    return snap


def tick(agent: Agent, cfg: SchedulerConfig, now: datetime | None = None) -> TickResult:
    """Decide and buy for ``agent`` once; ``now`` is injectable for tests."""
    now = now or datetime.now(UTC)
    snap = read(agent, cfg, now)
    cands = candidates(snap, agent.catalog.entry)
    busy = snap.busy
    budget = budget_for(snap, cands, now)
    decisions = prioritizer.decide([c for c in cands if c.url not in busy], budget, now)
    decisions += _skip_in_flight(cands, busy)
    drift = agent.policy().max_quote_drift
    jobs = [_job(agent, d, drift) for d in decisions if d.action == BUY]
    spent = sum((d.price or Decimal(0) for d in decisions if d.action == BUY), Decimal(0))
    tokens_left = max(budget.tokens - spent, Decimal(0))
    plan = prioritizer.plan(decisions, budget, now, tokens_left)
    rows = [d.details() for d in decisions if d.action == BUY]
    skips = [
        (d.url, d.reason, d.rank, round(d.scores.score, 6), d.extra or None)
        for d in decisions
        if d.action != BUY
    ]
    deferred = monitoring.record_tick(
        agent.session(),
        agent.agent_id,
        rows,
        skips=skips,
        tokens=tokens_left,
        at=now,
        plan=plan,
        jobs=jobs,
        concurrency=agent_concurrency(),
    )
    for d in decisions:
        if d.action == BUY:
            job_id = deferred.get(str(d.extra["request_id"]))
            if job_id is None:
                d.action, d.reason = SKIP, "in flight: a job for this API is already queued"
            else:
                d.extra["job_id"] = job_id
    return TickResult(agent.name, now, decisions, tokens_left, plan)


def agent_concurrency() -> int:
    """Paid fetches of one agent running at once (AUTOPAY_AGENT_CONCURRENCY)."""
    return worker_config.load().agent_concurrency
