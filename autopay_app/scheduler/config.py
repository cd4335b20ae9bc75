"""Scheduler configuration: environment variables with defaults, validated once.

| variable | default | meaning |
|---|---|---|
| AUTOPAY_MONITOR_INTERVAL_S | 30 | balance monitor period |
| AUTOPAY_TICK_S | 60 | prioritizer tick period |
| AUTOPAY_DAILY_BUDGET | 5 | default daily budget of a PHASE3 agent (token units) |
| AUTOPAY_PACING_BURST | 0.05 | pacing bucket size, as a fraction of the daily budget |
| AUTOPAY_MAX_BUYS_PER_TICK | 5 | purchases at most per tick |
| AUTOPAY_MAINTENANCE_INTERVAL_S | 300 | finalize, reconcile, expire approvals |
| AUTOPAY_RECONCILE_AFTER_S | 120 | a payment or request this old and unfinished is reconciled |
| AUTOPAY_HOUSEKEEPING_INTERVAL_S | 86400 | partitions, retention and the backup |
| AUTOPAY_LEADER_RETRY_S | 5 | how often a standby process tries to become the leader |
| AUTOPAY_SCHEDULER_JOBS | all | comma list of jobs to run (see ``JOBS``) |
| AUTOPAY_MONITORED_APIS | unset | ``url=weight`` pairs separated by commas or spaces |
| AUTOPAY_SCHEDULER_HEARTBEAT | unset | file touched when the database answered (healthchecks) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from autopay_app.config import _float, _int
from autopay_app.errors import ConfigError

JOBS = ("balances", "prioritizer", "settle", "partitions", "retention", "backup")


@dataclass(frozen=True)
class SchedulerConfig:
    """The scheduler's validated settings (see the module docstring)."""

    monitor_interval_s: float = 30.0
    tick_s: float = 60.0
    daily_budget: Decimal = Decimal("5")
    pacing_burst: Decimal = Decimal("0.05")
    max_buys_per_tick: int = 5
    maintenance_interval_s: float = 300.0
    reconcile_after_s: float = 120.0
    housekeeping_interval_s: float = 86400.0
    leader_retry_s: float = 5.0
    jobs: tuple[str, ...] = JOBS
    monitored: tuple[tuple[str, Decimal], ...] = ()
    heartbeat_path: str | None = None


def _decimal(env: Mapping[str, str], name: str, default: str, low: str, high: str) -> Decimal:
    raw = env.get(name, "").strip() or default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a decimal number, got {raw!r}") from None
    if not (value.is_finite() and Decimal(low) <= value <= Decimal(high)):
        raise ConfigError(f"{name} must be between {low} and {high}, got {raw}")
    return value


def _jobs(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("AUTOPAY_SCHEDULER_JOBS", "").strip()
    if not raw or raw == "all":
        return JOBS
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in JOBS]
    if unknown:
        raise ConfigError(f"AUTOPAY_SCHEDULER_JOBS: unknown job {unknown[0]!r} (know {JOBS})")
    return names


def parse_monitored(
    raw: str, name: str = "AUTOPAY_MONITORED_APIS"
) -> tuple[tuple[str, Decimal], ...]:
    """Parse ``url=weight`` pairs (weight optional, default 1)."""
    out = []
    for item in raw.replace(",", " ").split():
        url, _, weight = item.partition("=")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name}: {url!r} is not an http(s) URL")
        try:
            value = Decimal(weight or "1")
        except InvalidOperation:
            raise ConfigError(f"{name}: weight of {url} must be a number, got {weight!r}") from None
        if not (value.is_finite() and value > 0):
            raise ConfigError(f"{name}: weight of {url} must be positive, got {weight}")
        out.append((url, value))
    return tuple(out)


def load(env: Mapping[str, str] | None = None) -> SchedulerConfig:
    """Read and validate the scheduler's variables (default: ``os.environ``).

    Raises:
        ConfigError: A variable is malformed; the message names it.
    """
    env = os.environ if env is None else env
    return SchedulerConfig(
        monitor_interval_s=_float(env, "AUTOPAY_MONITOR_INTERVAL_S", 30.0, 0.05, 86400.0),
        tick_s=_float(env, "AUTOPAY_TICK_S", 60.0, 0.05, 86400.0),
        daily_budget=_decimal(env, "AUTOPAY_DAILY_BUDGET", "5", "0", "1000000"),
        pacing_burst=_decimal(env, "AUTOPAY_PACING_BURST", "0.05", "0", "1"),
        max_buys_per_tick=_int(env, "AUTOPAY_MAX_BUYS_PER_TICK", 5, 1, 10_000),
        maintenance_interval_s=_float(env, "AUTOPAY_MAINTENANCE_INTERVAL_S", 300.0, 0.05, 604800.0),
        reconcile_after_s=_float(env, "AUTOPAY_RECONCILE_AFTER_S", 120.0, 0.0, 604800.0),
        housekeeping_interval_s=_float(
            env, "AUTOPAY_HOUSEKEEPING_INTERVAL_S", 86400.0, 0.05, 2_678_400.0
        ),
        leader_retry_s=_float(env, "AUTOPAY_LEADER_RETRY_S", 5.0, 0.05, 3600.0),
        jobs=_jobs(env),
        monitored=parse_monitored(env.get("AUTOPAY_MONITORED_APIS", "")),
        heartbeat_path=env.get("AUTOPAY_SCHEDULER_HEARTBEAT", "").strip() or None,
    )
