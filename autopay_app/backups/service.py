"""A backup run and a restore, as the CLI and the scheduler's daily job do them.

:func:`run_backup`: dump and rotate locally, upload and rotate in the bucket
when one is configured, record a BACKUP audit event with the outcome (on
success and on failure). A failed upload leaves the local archive in place and
comes back as ``BackupOutcome.error``; a failed dump raises. :func:`restore`
takes a local path or an ``s3://bucket/key`` URL (downloaded into the private
backup directory first, removed afterwards).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from autopay_app.backups.s3 import RemoteArchive, S3Store, S3Target, parse_s3_url
from autopay_app.config import Settings
from autopay_app.errors import BackupError
from autopay_app.ledger import backup, backup_events
from autopay_app.progress import Progress

#: Builds a :class:`Progress` for one step: ``(label, total=..., unit=...)``.
ProgressFactory = Callable[..., Progress]


@dataclass
class BackupOutcome:
    """What one backup run did; ``error`` is set when the upload or remote rotation failed."""

    local: backup.BackupResult
    uploaded_to: str | None = None
    remote_removed: list[str] = field(default_factory=list)
    error: str | None = None

    def details(self) -> dict[str, Any]:
        """The BACKUP audit event's details."""
        return {
            "outcome": "failed" if self.error else "ok",
            "archive": self.local.path.name,
            "size": self.local.size,
            "removed": [p.name for p in self.local.removed],
            "uploaded_to": self.uploaded_to,
            "remote_removed": self.remote_removed,
            "error": self.error,
        }


@contextlib.contextmanager
def _step(make: ProgressFactory | None, label: str, **options: Any) -> Iterator[Progress | None]:
    if make is None:
        yield None
        return
    with make(label, **options) as progress:
        yield progress


def _record(session: Session, details: dict[str, Any]) -> None:
    try:
        backup_events.record(session, details)
    except Exception as exc:  # the database may be what failed
        raise BackupError(
            f"{details.get('error') or 'backup written'}; and its audit event could not be "
            f"recorded: {' '.join(str(exc).split())[:200]}"
        ) from None


def _offsite(
    outcome: BackupOutcome, target: S3Target, keep: int, make: ProgressFactory | None
) -> None:
    """Upload and rotate remotely; a failure lands in ``outcome.error``."""
    path = outcome.local.path
    label = f"upload to s3://{target.bucket}"
    try:
        store = S3Store(target)
        with _step(make, label, total=outcome.local.size, unit="bytes") as p:
            outcome.uploaded_to = store.upload(path, p.advance if p else None)
        outcome.remote_removed = store.rotate(keep)
    except BackupError as exc:
        outcome.error = f"{exc} (the local archive {path} is kept)"


def run_backup(
    settings: Settings, url: str, session: Session, progress: ProgressFactory | None = None
) -> BackupOutcome:
    """Dump ``url``, rotate, upload when S3 is configured, record the BACKUP event.

    Raises:
        BackupError: pg_dump failed (recorded as a failed BACKUP event when the
            ledger can still be written), or the event could not be recorded.
    """
    try:
        with _step(progress, "backup: pg_dump", unit="bytes") as p:
            local = backup.backup(url, settings.backup_dir, keep=settings.backup_keep, progress=p)
    except BackupError as exc:
        _record(session, {"outcome": "failed", "error": str(exc)})
        raise
    outcome = BackupOutcome(local)
    target = S3Target.from_settings(settings)
    if target is not None:
        _offsite(outcome, target, settings.backup_keep, progress)
    _record(session, outcome.details())
    return outcome


def remote_archives(settings: Settings) -> list[RemoteArchive] | None:
    """The backups in the configured bucket, oldest first (None: no bucket configured)."""
    target = S3Target.from_settings(settings)
    return S3Store(target).archives() if target is not None else None


def restore(
    source: str, url: str, settings: Settings, progress: ProgressFactory | None = None
) -> None:
    """Restore a local archive, or an ``s3://bucket/key`` one, into the empty database ``url``.

    Raises:
        BackupError: Bad URL, download failed, database not empty, or pg_restore failed.
    """
    if not source.startswith("s3://"):
        with _step(progress, "restore") as p:
            backup.restore(Path(source), url, progress=p)
        return
    bucket, key = parse_s3_url(source)
    if not backup.database_is_empty(url):
        raise BackupError("restore needs an empty database: this one already has tables")
    target = S3Target(bucket, settings.backup_s3_endpoint)
    directory = backup.private_directory(settings.backup_dir)
    local = directory / f".download-{secrets.token_hex(8)}{backup.SUFFIX}"
    store = S3Store(target)
    size = store.size(key)
    try:
        with _step(progress, f"download of {source}", total=size, unit="bytes") as p:
            store.download(key, local, p.advance if p else None)
        with _step(progress, "restore") as p:
            backup.restore(local, url, progress=p)
    finally:
        local.unlink(missing_ok=True)
