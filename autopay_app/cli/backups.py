"""``autopay backup [list]`` and ``autopay restore ARCHIVE|s3://bucket/key``."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import with_appcontext

from autopay_app.backups import service
from autopay_app.cli import context
from autopay_app.errors import BackupError
from autopay_app.ledger.backup import archives
from autopay_app.progress import byte_text


@click.group("backup", invoke_without_command=True)
@click.pass_context
@with_appcontext
def backup_command(ctx: click.Context) -> None:
    """Write a compressed pg_dump under AUTOPAY_HOME/backups (rotated; S3 when configured).

    With AUTOPAY_BACKUP_S3_BUCKET the archive is uploaded and the bucket rotated
    to the same AUTOPAY_BACKUP_KEEP. A failed upload keeps the local archive and
    exits 1. Every run is a BACKUP event of the audit trail.
    """
    if ctx.invoked_subcommand is not None:
        return
    outcome = service.run_backup(
        context.settings(), context.database_url(), context.session(), context.progress
    )
    local = outcome.local
    click.echo(f"backup written: {local.path} ({local.size} bytes)")
    for old in local.removed:
        click.echo(f"rotated out: {old.name}")
    if outcome.uploaded_to:
        click.echo(f"uploaded to {outcome.uploaded_to}")
    for key in outcome.remote_removed:
        click.echo(f"rotated out of the bucket: {key}")
    if outcome.error:
        raise BackupError(outcome.error)


def _when(timestamp: float | datetime) -> str:
    if isinstance(timestamp, datetime):
        return timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


@backup_command.command("list")
@with_appcontext
def list_command() -> None:
    """The backups on this machine and in the configured bucket, oldest first."""
    settings = context.settings()
    click.echo(f"local ({settings.backup_dir}):")
    local = archives(settings.backup_dir)
    for path in local:
        info = path.stat()
        click.echo(f"  {path.name}  {byte_text(info.st_size):>10}  {_when(info.st_mtime)} UTC")
    if not local:
        click.echo("  none")
    remote = service.remote_archives(settings)
    if remote is None:
        click.echo("remote: none configured (set AUTOPAY_BACKUP_S3_BUCKET)")
        return
    click.echo(f"remote (s3://{settings.backup_s3_bucket}/{settings.backup_s3_prefix}):")
    for item in remote:
        click.echo(f"  {item.url}  {byte_text(item.size):>10}  {_when(item.modified)} UTC")
    if not remote:
        click.echo("  none")


@click.command("restore")
@click.argument("archive")
@with_appcontext
def restore_command(archive: str) -> None:
    """Restore ARCHIVE (a file from `autopay backup`, or s3://bucket/key) into the empty database.

    The database roles are applied to the restored objects as migration 0005 set them up.
    """
    service.restore(archive, context.database_url(), context.settings(), context.progress)
    click.echo(f"restored {archive}")


COMMANDS = (backup_command, restore_command)
