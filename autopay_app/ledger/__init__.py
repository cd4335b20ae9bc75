"""Writes and queries over the ledger; the one place that does database work.

Services take a session and own their transaction; views and the agent call
them and never build queries themselves. Modules: ``hooks`` (payment status
audit), ``partitions`` (monthly partitions and retention), ``erasure`` (GDPR-like
forget), ``seed`` (demo data), ``backup`` (pg_dump / pg_restore), ``queries``
(the dashboard's reads), ``secrets_store`` (session tokens).
"""
