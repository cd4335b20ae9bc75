"""``run_autonomously`` (for ``autopay demo --phase 3``) and its explanation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autopay_app.agent import Agent
from autopay_app.scheduler.autonomy import describe, run_autonomously
from autopay_app.tasks import worker
from tests.e2e.scheduler.conftest import Stack, config, monitor


def test_runs_ticks_and_explains_what_it_bought_and_why(
    stack: Stack, phase3_agent: Callable[..., Agent], app_for: Callable[[Agent], Any]
) -> None:
    agent = phase3_agent(usdc=1)
    monitor(agent, stack, {"/api/market-feed": "1", "/api/knowledge/insights": "2"})
    seen, slept = [], []
    app = app_for(agent)
    thread, stop = worker.start_in_thread(app)  # what `autopay demo` runs beside it
    try:
        decisions = run_autonomously(
            app,
            agent,
            ticks=2,
            progress=seen.append,
            cfg=config(tick_s=7.0),
            sleep=slept.append,
        )
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(seen) == 2 and len(slept) == 1 and 0 <= slept[0] <= 7.0
    assert [d["decision"] for d in decisions[:2]] == ["BOUGHT", "BOUGHT"]
    assert [d["outcome"] for d in decisions[:2]] == ["ACCESSED", "ACCESSED"]
    # both in flight or still fresh: the second tick comes at once (the test's sleep)
    assert {d["decision"] for d in decisions[2:]} == {"SKIPPED"}
    text = describe(decisions)
    assert text.splitlines()[0].endswith("2 bought (0.03 spent), 0 failed, 2 skipped")
    assert f"BOUGHT  {stack.url('/api/knowledge/insights')}  0.02 USDC" in text
    assert "SKIPPED x2" in text
