"""Backup, drop, restore: the ledger comes back identical."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from autopay_app.errors import BackupError
from autopay_app.ledger import backup, databases, partitions, seed
from autopay_app.ledger.backup import libpq_url

TABLES = (
    "agents",
    "api_requests",
    "payments",
    "transaction_logs",
    "wallet_balances",
    "retry_attempts",
    "audit_events",
    "error_classifications",
)


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 over every row of every ledger table."""
    out = {}
    with psycopg.connect(libpq_url(url)) as conn:
        for table in TABLES:
            out[table] = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) "
                f"FROM {table} t"
            ).fetchone()
        out["partitions"] = conn.execute(
            "SELECT count(*), string_agg(relname, ',' ORDER BY relname) FROM pg_class "
            "WHERE relname ~ '_(p[0-9]{6}|default)$'"
        ).fetchone()
    return out


def test_backup_drop_restore_is_identical(
    session: Session, database_url: str, server_url: str, tmp_path: Path
) -> None:
    seed.seed_demo(session)
    session.close()
    before = fingerprint(database_url)
    result = backup.backup(database_url, tmp_path, keep=2)
    assert result.path.exists() and result.size > 0

    name = make_url(database_url).database
    databases.drop_database(server_url, name)
    fresh = databases.create_database(server_url, name)
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
    assert list((home / "backups").glob("autopay-*.dump"))
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
