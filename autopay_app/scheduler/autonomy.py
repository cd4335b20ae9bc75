"""``autopay demo --phase 3`` support: run the agent on its own for a while, then explain.

:func:`run_autonomously` drives ticks itself (balance read, then a prioritizer
tick), so a demo needs neither the background scheduler nor its leadership;
:func:`describe` turns the decisions into "what it bought and why".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask

from autopay_app.ledger import queue
from autopay_app.scheduler import config as scheduler_config
from autopay_app.scheduler.config import SchedulerConfig
from autopay_app.scheduler.prioritizer import amount
from autopay_app.scheduler.tick import TickResult, tick

if TYPE_CHECKING:
    from autopay_app.agent import Agent


def run_autonomously(
    app: Flask,
    agent: Agent,
    *,
    ticks: int | None = None,
    minutes: float | None = None,
    progress: Callable[[TickResult], None] | None = None,
    cfg: SchedulerConfig | None = None,
    sleep: Callable[[float], None] = time.sleep,
    drain_s: float = 120.0,
) -> list[dict[str, Any]]:
    """Tick ``ticks`` times or for ``minutes`` (every AUTOPAY_TICK_S); return every decision.

    The agent should be at PHASE3; each tick refreshes its balances first (the
    LOW_BALANCE pause and resume apply) and then decides and queues its buys;
    workers (``autopay worker``, or the demo's own) run them. After the last
    tick it waits up to ``drain_s`` for the agent's queued fetches to finish,
    and each BUY carries what its fetch came to (FAILED with the classification).
    The demo sets its own pace (``cfg.tick_s``, from ``autopay demo --tick``):
    the agent's own ``tick_seconds`` applies under the scheduler, not here.
    """
    if ticks is None and minutes is None:
        raise ValueError("give ticks or minutes")
    cfg = cfg or scheduler_config.load()
    deadline = None if minutes is None else time.monotonic() + minutes * 60
    out: list[dict[str, Any]] = []
    done = 0
    with app.app_context():
        while (ticks is None or done < ticks) and (deadline is None or time.monotonic() < deadline):
            started = time.monotonic()
            agent.refresh_balances()
            result = tick(agent, cfg)
            out.extend(result.details())
            done += 1
            if progress is not None:
                progress(result)
            if (ticks is None or done < ticks) and (
                deadline is None or time.monotonic() < deadline
            ):
                sleep(max(cfg.tick_s - (time.monotonic() - started), 0.0))
    wait_for_queue(agent, drain_s)
    return with_outcomes(agent, out)


def wait_for_queue(agent: Agent, timeout_s: float) -> bool:
    """Wait until none of ``agent``'s paid fetches is queued or running; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while queue.open_jobs(agent.session(), agent.name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def with_outcomes(agent: Agent, decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each BUY with what its queued fetch came to (still queued: ``outcome`` QUEUED)."""
    ids = [str(d["request_id"]) for d in decisions if d.get("request_id")]
    found = queue.outcomes(agent.session(), ids)
    for d in decisions:
        if d.get("decision") != "BOUGHT" or not d.get("request_id"):
            continue
        got = found.get(str(d["request_id"]))
        if got is None or got.status not in ("ACCESSED", "FAILED"):
            d["outcome"] = "QUEUED"
        elif got.status == "FAILED":
            d |= {"decision": "FAILED", "outcome": "FAILED", "category": got.category}
            d["error"] = (got.message or "")[:500]
        else:
            d["outcome"] = "ACCESSED"
            if got.amount is not None:
                d["paid"] = amount(got.amount, str(d.get("asset")))
    return decisions


def describe(decisions: list[dict[str, Any]]) -> str:
    """A readable account: what was bought (and for how much), what was skipped and why."""
    bought = [d for d in decisions if d.get("decision") == "BOUGHT"]
    failed = [d for d in decisions if d.get("decision") == "FAILED"]
    skipped = [d for d in decisions if d.get("decision") == "SKIPPED"]
    spent = sum(float(d.get("paid") or d.get("price") or 0) for d in bought)
    lines = [
        f"Phase 3 run at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC: "
        f"{len(bought)} bought ({spent:.6g} spent), {len(failed)} failed, {len(skipped)} skipped"
    ]
    for d in bought:
        lines.append(f"  BOUGHT  {d['api']}  {d.get('paid') or d['price']} {d['asset']}")
        lines.append(f"          why: {d['reason']}")
    for d in failed:
        lines.append(f"  FAILED  {d['api']}  {d.get('category')}: {d.get('error')}")
    reasons: dict[str, list[str]] = {}
    for d in skipped:
        reasons.setdefault(d["reason"].split(":")[0], []).append(d["api"])
    for kind, apis in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
        example = next(d["reason"] for d in skipped if d["reason"].startswith(kind))
        lines.append(f"  SKIPPED x{len(apis)}  {kind}  (e.g. {apis[0]}: {example})")
    return "\n".join(lines)
