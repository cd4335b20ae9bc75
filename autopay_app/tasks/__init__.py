"""Paid fetches as procrastinate jobs: any number of workers on any number of machines.

The Phase 3 leader decides (APScheduler) and defers one ``paid_fetch`` job per
BUY in the transaction that writes the decision (:mod:`autopay_app.ledger.queue`);
``autopay worker`` processes (``autopay serve`` and ``autopay demo`` start one
beside them) take the jobs from the ledger's PostgreSQL with procrastinate
(``SELECT ... FOR UPDATE SKIP LOCKED``, LISTEN/NOTIFY) and pay through the
agent's pipeline.

- :mod:`~autopay_app.tasks.config`: the worker's settings (environment).
- :mod:`~autopay_app.tasks.queue`: the procrastinate app, its connector and tasks.
- :mod:`~autopay_app.tasks.paid_fetch`: the task; a re-run settles, never pays again.
- :mod:`~autopay_app.tasks.recovery`: stalled jobs (their worker died) back to the queue.
- :mod:`~autopay_app.tasks.maintenance`: per-agent reconciliation (and finality upgrades),
  deferred by the scheduler's ``settle`` job.
- :mod:`~autopay_app.tasks.worker`: run a worker (in the foreground or in a thread).

A job carries the request id its fetch will use. A worker killed mid-payment
leaves the job ``doing``; once its heartbeat is older than
``AUTOPAY_STALLED_AFTER_S`` the recovery task puts it back, and the next run
finds its request already written: it settles that request's payment from the
chain (write-ahead + reconcile) instead of paying again.
"""
