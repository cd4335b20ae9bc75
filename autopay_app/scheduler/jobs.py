"""The scheduler's jobs. Each takes the app and the config and returns a JSON outcome.

Per-agent failures do not stop a job: they are collected under ``errors`` and
the run is recorded as ERROR with them (see :mod:`autopay_app.scheduler.core`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy.orm import Session

from autopay_app.backups import service as backups
from autopay_app.ledger import balances, monitoring, partitions, policies
from autopay_app.models import AutonomyLevel
from autopay_app.scheduler import cadence
from autopay_app.scheduler.config import SchedulerConfig
from autopay_app.tasks import config as worker_config
from autopay_app.tasks import maintenance

if TYPE_CHECKING:
    from autopay_app.agent import Agent

Job = Callable[[Flask, SchedulerConfig], dict[str, Any]]


def _session() -> Session:
    from autopay_app.extensions import db

    return Session(db.engine, expire_on_commit=False)


def running_agents(app: Flask) -> dict[str, Agent]:
    """The agents this process holds keypairs for (the app's own agent first, then those
    of AUTOPAY_KEYS_DIR)."""
    from autopay_app.agent.runtime import load_keys

    load_keys(worker_config.load().keys_dir)
    registry: dict[str, Agent] = app.extensions.get("autopay_agents", {})
    return {a.name: a for key, a in registry.items() if key != "__default__"}


def _amounts(row: Any) -> dict[str, Decimal]:
    if row is None:
        return {}
    return {"SOL": row.balance_sol, "USDC": row.balance_usdc, "CASH": row.balance_cash}


def _read(agent_row: Any, runner: Agent | None, reader: Agent) -> balances.BalanceRead:
    if runner is not None:
        return runner.refresh_balances()  # pauses / resumes with LOW_BALANCE events
    read = reader.rpc(lambda c: c.balances(agent_row.wallet_address))
    row = balances.BalanceRead(read.sol, read.usdc, read.cash)
    assets = policies.get_or_create(_session(), agent_row.id).allowed_assets
    low = [a for a in assets if row.of(a) < agent_row.balance_threshold]
    balances.record(
        _session(), agent_row.id, agent_row.wallet_address, row, agent_row.balance_threshold, low
    )
    return row


def balance_monitor(app: Flask, cfg: SchedulerConfig) -> dict[str, Any]:
    """Read SOL/USDC/CASH of every active agent; record them; notice top-ups."""
    runners = running_agents(app)
    reader = next(iter(runners.values()))
    out: dict[str, Any] = {"agents": {}, "errors": []}
    for row in monitoring.active_agents(_session()):
        before = _amounts(balances.latest(_session(), row.id))
        try:
            read = _read(row, runners.get(row.name), reader)
        except Exception as exc:  # one agent's dead RPC must not stop the others
            out["errors"].append(f"{row.name}: {exc}")
            continue
        after = {"SOL": read.sol, "USDC": read.usdc, "CASH": read.cash}
        grew = {a: str(v) for a, v in after.items() if before and v > before.get(a, v)}
        if grew:
            previous = {a: str(before[a]) for a in grew}
            monitoring.record_top_up(_session(), row.id, previous, grew)
        out["agents"][row.name] = {a: str(v) for a, v in after.items()} | (
            {"top_up": sorted(grew)} if grew else {}
        )
    return out


def _tick_if_due(agent: Agent, cfg: SchedulerConfig) -> tuple[dict[str, Any] | None, datetime]:
    """Tick ``agent`` if its own interval has passed; returns the outcome and when it is next due.

    The outcome is None when the agent is not due (or another process just
    ticked it). The tick is claimed before it runs, so one that fails is
    retried after the agent's interval, not at every run of the job.
    """
    from autopay_app.scheduler.tick import tick

    session = agent.session()
    settings = monitoring.ensure_settings(
        session, agent.agent_id, cfg.daily_budget, cfg.pacing_burst, cfg.max_buys_per_tick
    )
    interval = cadence.interval_s(settings.tick_seconds, cfg.tick_s)
    now = datetime.now(UTC)
    due = cadence.due_at(settings.last_tick_at, interval, now)
    following = now + timedelta(seconds=interval)
    if not cadence.is_due(due, now):
        return None, due
    if not monitoring.claim_tick(session, agent.agent_id, settings.last_tick_at, now):
        return None, following
    try:
        result = tick(agent, cfg, now=now)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}, following
    outcome = {
        "bought": [d.url for d in result.bought],
        "decisions": len(result.decisions),
        "tokens_left": str(result.tokens_left),
        "tick_s": interval,
    }
    return outcome, following


def prioritizer_job(app: Flask, cfg: SchedulerConfig) -> dict[str, Any]:
    """Tick every running PHASE3 agent whose own tick interval has passed.

    The outcome's ``next_run_at`` is when the next agent falls due; the
    scheduler pulls the job's next run forward to it when that is sooner than
    ``AUTOPAY_TICK_S``. Agents not yet due are under ``waiting`` (seconds to go).
    """
    out: dict[str, Any] = {"agents": {}, "waiting": {}, "errors": []}
    dues: list[datetime] = []
    for name, agent in running_agents(app).items():
        try:
            if agent.level() is not AutonomyLevel.PHASE3:
                continue
            outcome, due = _tick_if_due(agent, cfg)
        except Exception as exc:
            out["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        dues.append(due)
        if outcome is None:
            wait = (due - datetime.now(UTC)).total_seconds()
            out["waiting"][name] = round(max(wait, 0.0), 3)
        elif "error" in outcome:
            out["errors"].append(f"{name}: {outcome['error']}")
        else:
            out["agents"][name] = outcome
    out["next_run_at"] = min(dues).isoformat() if dues else None
    return out


def settle_job(app: Flask, cfg: SchedulerConfig) -> dict[str, Any]:
    """Queue one ``reconcile`` job per running agent (stuck SIGNED payments and unfinished
    requests settled from the chain, finality upgrades, expired approvals), for whichever
    worker is free; an agent whose last one is still queued gets none."""
    out: dict[str, Any] = {"agents": {}, "errors": []}
    for name, agent in running_agents(app).items():
        try:
            job_id = maintenance.defer(agent.session(), name, cfg.reconcile_after_s)
        except Exception as exc:
            out["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        out["agents"][name] = {"job_id": job_id} if job_id else {"queued": "already"}
    return out


def partitions_job(app: Flask, cfg: SchedulerConfig) -> dict[str, Any]:
    return {"created": partitions.create_upcoming(_session(), 3)}


def retention_job(app: Flask, cfg: SchedulerConfig) -> dict[str, Any]:
    days = app.config["AUTOPAY_SETTINGS"].retention_days
    result = partitions.apply_retention(_session(), days)
    return {"days": result.days, "dropped": result.dropped}


def database_url(app: Flask) -> str:
    """The ledger's URL for pg_dump (the embedded server's when it is used)."""
    from autopay_app.extensions import db

    settings = app.config["AUTOPAY_SETTINGS"]
    if settings.embedded_database and not app.config.get("AUTOPAY_EXTERNAL_DB"):
        from autopay_app.embedded_db import ensure_database

        return ensure_database(settings.home)
    return str(db.engine.url.render_as_string(hide_password=False))


def backup_job(app: Flask, cfg: SchedulerConfig) -> dict[str, Any]:
    """The daily ``autopay backup``: a rotated pg_dump, uploaded and rotated in S3 when
    configured, recorded as a BACKUP audit event; a failed upload is the run's error."""
    settings = app.config["AUTOPAY_SETTINGS"]
    outcome = backups.run_backup(settings, database_url(app), _session())
    return outcome.details() | {"errors": [outcome.error] if outcome.error else []}


#: name -> (function, the config attribute giving its period in seconds); a job whose
#: outcome has ``next_run_in_s`` runs again that soon when it is sooner than its period.
JOBS: dict[str, tuple[Job, str]] = {
    "balances": (balance_monitor, "monitor_interval_s"),
    "prioritizer": (prioritizer_job, "tick_s"),
    "settle": (settle_job, "maintenance_interval_s"),
    "partitions": (partitions_job, "housekeeping_interval_s"),
    "retention": (retention_job, "housekeeping_interval_s"),
    "backup": (backup_job, "housekeeping_interval_s"),
}
