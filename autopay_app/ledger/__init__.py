"""Writes and queries over the ledger; the one place that does database work.

Services take a session (or, on the agent's hot path, a psycopg connection) and
own their transaction; views, the scheduler and the agent call them and never
build queries themselves. Rules every writer must follow live in the database
(triggers and constraints, see ``migrations/``): status changes audit
themselves, the audit trail is append-only, spend windows are kept per minute.

Modules:

- a paid request: ``requests_log`` (the request row, retries, failures),
  ``payments`` (reservation, write-ahead, confirmation, verification),
  ``spend`` (the spend lock, caps and windows), ``direct`` (the hot path's
  psycopg connections), ``audit`` (the actor and context of status events),
  ``approvals`` (Phase 2), ``balances``, ``breakers``, ``policies``, ``agents``;
- Phase 3: ``monitoring`` (monitored APIs, budgets, the prioritizer's reads and
  decisions), ``job_runs``;
- the dashboard and the API: ``dashboard``, ``overview``, ``queries``, ``export``;
- operations: ``partitions`` (monthly partitions and retention), ``backup``
  (pg_dump / pg_restore, S3), ``erasure`` (GDPR-like forget), ``roles`` (the
  database roles).
"""
