"""Phase 3, full autonomy: APScheduler jobs that watch balances and decide what to buy.

Design overview:

- ``core``: :func:`create_scheduler` (called by the app factory; never starts
  anything) and :class:`AutopayScheduler` (``start()`` from ``autopay serve`` /
  ``autopay demo``; refuses under tests and in the debug reloader's parent).
  One process runs the jobs: the holder of a PostgreSQL advisory lock on a
  dedicated connection; others stand by and take over when it dies. Jobs
  coalesce, run one instance at a time, and every run is a ``job_runs`` row.
- ``jobs``: balance monitor (RPC reads, LOW_BALANCE pause/resume, top-ups),
  prioritizer, settlement (finalize, reconcile stuck SIGNED, expire approvals),
  partitions, retention, backup.
- ``cadence``: each agent's own tick interval (``monitor_settings.tick_seconds``,
  default ``AUTOPAY_TICK_S``): the prioritizer job ticks only the agents that
  are due and pulls its next run forward to the next one falling due.
- ``prioritizer``: the pure scoring and ranking (value of fresh data over
  price, staleness vs TTL, budgets, balance, failures, breakers); ``pacing``:
  the token bucket that spreads a daily budget; ``tick``: the thin job that
  gathers inputs (one indexed query), buys the chosen APIs and writes every
  decision as an AGENT_DECISION audit event.
- ``autonomy``: ``autopay demo --phase 3`` support (run for a while, explain).
- ``config``: the environment variables, validated (ConfigError names them).

Database work lives in :mod:`autopay_app.ledger.monitoring` and
:mod:`autopay_app.ledger.job_runs`; the scheduler calls the agent and the ledger.
"""

from autopay_app.scheduler.core import AutopayScheduler, create_scheduler

__all__ = ["AutopayScheduler", "create_scheduler"]
