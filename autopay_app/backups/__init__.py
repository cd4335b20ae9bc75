"""Backups of the ledger, on this machine and in S3-compatible storage.

``autopay backup`` and the scheduler's daily job run :func:`service.run_backup`:
a compressed ``pg_dump`` under AUTOPAY_HOME/backups (0700, archives 0600,
rotated to AUTOPAY_BACKUP_KEEP), then, when AUTOPAY_BACKUP_S3_BUCKET is set, an
upload (server-side encrypted when AUTOPAY_BACKUP_S3_SSE asks) and the same
rotation in the bucket. Every run is a BACKUP audit event with its outcome; a
failed upload keeps the local archive and fails the command with one line.
``autopay restore s3://bucket/key`` downloads and restores.

Modules: ``s3`` (the bucket: upload, list, rotate, download, errors in one
line), ``service`` (the steps strung together for the CLI and the scheduler).
The pg_dump / pg_restore side is :mod:`autopay_app.ledger.backup`.
"""
