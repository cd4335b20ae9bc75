"""Backup, drop, restore: the ledger comes back identical."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from autopay_app.cli import context
from autopay_app.devtools import scratch, seed
from autopay_app.errors import BackupError
from autopay_app.ledger import backup, backup_events, partitions
from autopay_app.models import Severity
from tests.ledger_fingerprint import fingerprint


def test_backup_drop_restore_is_identical(
    session: Session, database_url: str, server_url: str, tmp_path: Path
) -> None:
    seed.seed_demo(session)
    session.close()
    before = fingerprint(database_url)
    result = backup.backup(database_url, tmp_path, keep=2)
    assert result.path.exists() and result.size > 0

    name = make_url(database_url).database
    scratch.drop_database(server_url, name)
    fresh = scratch.create_database(server_url, name)
    backup.restore(result.path, fresh)

    assert fingerprint(fresh) == before
    # The restored ledger keeps working: retention runs as the maintenance role.
    engine = create_engine(fresh)
    with Session(engine) as restored:
        assert partitions.apply_retention(restored, 90).days == 90
    engine.dispose()
    with pytest.raises(BackupError, match="empty database"):
        backup.restore(result.path, fresh)


def test_rotation_keeps_the_newest(tmp_path: Path) -> None:
    for stamp in ("20260101", "20260102", "20260103"):
        (tmp_path / f"autopay-{stamp}.dump").write_bytes(b"x")
    removed = backup.rotate(tmp_path, 2)
    assert [p.name for p in removed] == ["autopay-20260101.dump"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "autopay-20260102.dump",
        "autopay-20260103.dump",
    ]


def test_backup_command_and_missing_archive(runner: FlaskCliRunner, app) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    assert "backup written:" in result.output
    home = app.config["AUTOPAY_SETTINGS"].home
    written = list((home / "backups").glob("autopay-*.dump"))
    assert len(written) == 1
    with app.app_context():
        events = backup_events.recent(context.session())
    assert [(e.agent_id, e.severity, e.details["outcome"]) for e in events] == [
        (None, Severity.INFO, "ok")
    ]
    assert events[0].details["archive"] == written[0].name
    assert events[0].details["uploaded_to"] is None
    missing = runner.invoke(args=["restore", "/nonexistent.dump"])
    assert isinstance(missing.exception, BackupError)


def test_backup_directory_is_0700_and_dumps_are_0600(database_url: str, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh" / "backups"
    made = backup.backup(database_url, fresh, keep=2)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600

    loose = tmp_path / "loose"  # a directory an older version left world-readable
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    again = backup.backup(database_url, loose, keep=2)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700
    assert stat.S_IMODE(again.path.stat().st_mode) == 0o600
