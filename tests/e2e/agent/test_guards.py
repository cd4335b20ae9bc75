"""Balance guard, spend caps under concurrency, retries and backoff, circuit breakers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from werkzeug.wrappers import Response

from autopay_app.agent import Agent
from autopay_app.ledger import policies
from tests.e2e.agent.conftest import Stack
from tests.e2e.agent.ledger_checks import assert_money_conserved, balances, rows
from tests.e2e.agent.sellers import scripted_seller

FEED = "/api/market-feed?symbols=SOL"


def test_low_balance_pauses_without_signing_and_a_top_up_resumes(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(usdc="0.005", cash=0)
    paused = agent.fetch(stack.url(FEED))
    assert (paused.status, paused.category) == ("FAILED", "INSUFFICIENT_FUNDS")
    assert agent.address in (paused.error or "") and "autopay fund" in (paused.error or "")
    assert (
        rows(engine, "SELECT count(*) FROM payments WHERE agent_id = :a", a=agent.agent_id)[0][0]
        == 0
    )
    low = rows(
        engine,
        "SELECT details FROM audit_events WHERE agent_id = :a AND "
        "event_type = 'LOW_BALANCE' ORDER BY created_at",
        a=agent.agent_id,
    )
    assert low[0][0]["state"] == "PAUSED"
    assert low[0][0]["top_up"][0]["address"] == agent.address
    assert (
        rows(
            engine,
            "SELECT low_balance_event FROM wallet_balances WHERE agent_id = :a",
            a=agent.agent_id,
        )[0][0]
        is True
    )

    stack.harness.fund(agent.address, usdc=1, cash=1)
    resumed = agent.fetch(stack.url(FEED))
    assert resumed.status == "ACCESSED"
    states = [
        r[0]["state"]
        for r in rows(
            engine,
            "SELECT details FROM audit_events WHERE agent_id = :a AND "
            "event_type = 'LOW_BALANCE' AND details ? 'state' ORDER BY created_at",
            a=agent.agent_id,
        )
    ]
    assert states[0] == "PAUSED" and states[-1] == "RESUMED"


def test_caps_hold_with_ten_concurrent_fetches(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(usdc=1, cash=0)
    price = Decimal(stack_price(stack, FEED))
    policies.update(agent.session(), agent.agent_id, hourly_cap=price * 4, allowed_assets=["USDC"])
    before = balances(agent)
    results: list = []
    lock = threading.Lock()

    def one() -> None:
        result = agent.fetch(stack.url(FEED))
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status for r in results)
    assert statuses.count("ACCESSED") == 4, [r.error for r in results]
    assert {r.category for r in results if r.status == "FAILED"} == {"POLICY_DENIED"}
    spent = rows(
        engine,
        "SELECT coalesce(sum(amount), 0) FROM payments WHERE agent_id = :a AND status <> 'FAILED'",
        a=agent.agent_id,
    )[0][0]
    assert spent == price * 4
    assert_money_conserved(engine, agent, before)


def stack_price(stack: Stack, path: str) -> str:
    import requests

    items = requests.get(stack.url("/api/catalog"), timeout=5).json()
    items = items.get("items", items) if isinstance(items, dict) else items
    return next(i["prices"]["USDC"] for i in items if i["path"] == path.split("?")[0])


def test_retryable_failures_are_retried_three_times_with_backoff(
    make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(retry_base=0.05)
    with scripted_seller(lambda r: Response("busy", status=503)) as seller:
        result = agent.fetch(seller.url + "/api/market-feed")
    assert (result.status, result.category) == ("FAILED", "SELLER_5XX")
    assert len(seller.hits) == 4  # the call and three retries
    attempts = rows(
        engine,
        "SELECT attempt_number, backoff_delay, outcome::text "
        "FROM retry_attempts WHERE api_request_id = :r "
        "ORDER BY attempt_number",
        r=result.request_id,
    )
    assert [a[0] for a in attempts] == [1, 2, 3]
    assert {a[2] for a in attempts} == {"FAILURE"}
    for (_, delay, _), base in zip(attempts, (0.05, 0.10, 0.20), strict=True):
        assert timedelta(seconds=base) <= delay <= timedelta(seconds=base * 1.25 + 0.01)


def test_a_4xx_is_not_retried(make_agent: Callable[..., Agent], engine: sa.Engine) -> None:
    agent = make_agent()
    with scripted_seller(lambda r: Response("no", status=404)) as seller:
        result = agent.fetch(seller.url + "/api/nothing")
    assert result.status == "FAILED" and len(seller.hits) == 1
    assert (
        rows(
            engine,
            "SELECT count(*) FROM retry_attempts WHERE api_request_id = :r",
            r=result.request_id,
        )[0][0]
        == 0
    )


def test_recovery_on_retry_is_recorded_as_success(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent()
    answers = iter([Response("busy", status=503), Response("busy", status=429)])

    def flaky(request):  # type: ignore[no-untyped-def]
        return next(answers, None) or Response('{"ok": true}', content_type="application/json")

    with scripted_seller(flaky) as seller:
        result = agent.fetch(seller.url + "/free")
    assert result.status == "ACCESSED" and result.data == {"ok": True}
    outcomes = rows(
        engine,
        "SELECT outcome::text FROM retry_attempts WHERE api_request_id = :r "
        "ORDER BY attempt_number",
        r=result.request_id,
    )
    assert [o[0] for o in outcomes] == ["FAILURE", "SUCCESS"]


def test_breaker_opens_fails_fast_and_closes_while_others_are_served(
    stack: Stack, make_agent: Callable[..., Agent], engine: sa.Engine
) -> None:
    agent = make_agent(breaker_threshold=3, breaker_cooldown=1.0, retry_base=0.01)
    healthy = {"on": False}

    def seller_app(request):  # type: ignore[no-untyped-def]
        if healthy["on"]:
            return Response('{"ok": true}', content_type="application/json")
        return Response("down", status=503)

    with scripted_seller(seller_app) as seller:
        first = agent.fetch(seller.url + "/x")  # opens after 3 failures: the 4th fails fast
        hits = len(seller.hits)
        assert first.status == "FAILED" and hits == 3
        fast = agent.fetch(seller.url + "/x")
        assert fast.status == "FAILED" and "open" in (fast.error or "")
        assert len(seller.hits) == hits  # failed fast: no network call
        assert agent.fetch(stack.url(FEED)).status == "ACCESSED"  # other sellers served
        import time

        time.sleep(1.05)  # the cooldown (long enough for a loaded machine to fail fast first)
        healthy["on"] = True
        assert agent.fetch(seller.url + "/x").status == "ACCESSED"
    states = [
        r[0]["state"]
        for r in rows(
            engine,
            "SELECT details FROM audit_events WHERE agent_id = :a AND "
            "event_type = 'CIRCUIT_BREAKER' ORDER BY created_at",
            a=agent.agent_id,
        )
    ]
    assert states == ["OPEN", "HALF_OPEN", "CLOSED"]
