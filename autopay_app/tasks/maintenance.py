"""Per-agent upkeep as tasks: reconciliation (unfinished payments and requests settled from
the chain, finality upgrades, expired approvals) runs on whichever worker is free.

The scheduler's ``settle`` job defers one ``reconcile`` job per agent it runs (one queued
at a time per agent: a queueing lock), instead of reconciling every agent in the leader.
"""

from __future__ import annotations

from typing import Any

from procrastinate import JobContext

from autopay_app.ledger import queue
from autopay_app.tasks.paid_fetch import AgentNotServed

TASK = "reconcile"
QUEUE = "maintenance"


def run(context: JobContext, agent: str, older_than_s: float = 0.0) -> dict[str, Any]:
    """Reconcile ``agent``; returns the counts (kept in the worker's log)."""
    runner = context.additional_context["agents"].get(agent)
    if runner is None:
        raise AgentNotServed(f"agent {agent!r} has no keypair in this worker")
    counts = runner.reconcile(older_than_s)
    counts["approvals_expired"] = runner.expire_approvals()
    return {"agent": agent, **counts}


def defer(session: Any, agent: str, older_than_s: float) -> int | None:
    """Queue ``agent``'s reconciliation; None when one is queued already."""
    with session.begin():
        return queue.defer_task(
            session,
            TASK,
            QUEUE,
            {"agent": agent, "older_than_s": older_than_s},
            queueing_lock=f"{TASK}:{agent}",
        )
