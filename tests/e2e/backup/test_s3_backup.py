"""Backups to S3 and back, as an operator runs them: ``autopay backup``, ``autopay backup
list`` and ``autopay restore s3://...`` as commands against moto's S3 server (IAM enforced)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from sqlalchemy.orm import Session

from autopay_app.backups.s3 import S3Store, S3Target
from autopay_app.devtools import scratch
from autopay_app.ledger import backup_events, job_runs
from autopay_app.ledger.backup import libpq_url
from autopay_app.models import Severity
from autopay_app.scheduler import config as scheduler_config
from autopay_app.scheduler.core import run_recorded
from tests.e2e.backup.conftest import S3Server, aws_env
from tests.ledger_fingerprint import fingerprint

ARCHIVE = re.compile(r"autopay-\d{8}T\d{6}\d+Z\.dump")


def autopay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit 1 and exactly one line on stderr (no traceback)."""
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("autopay: ")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    return errors[0]


def _backup_events(url: str) -> list[tuple[str | None, str, dict]]:
    with psycopg.connect(libpq_url(url)) as conn:
        return [
            (str(r[0]) if r[0] else None, r[1], r[2])
            for r in conn.execute(
                "SELECT agent_id, severity::text, details FROM audit_events "
                "WHERE event_type = 'BACKUP' ORDER BY created_at"
            )
        ]


def _table_owner(url: str, table: str) -> str:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = %s", (table,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_backup_uploads_rotates_lists_and_restores_from_s3(
    s3_server: S3Server, database_url: str, server_url: str, tmp_path: Path
) -> None:
    env = s3_server.env(
        tmp_path / "home",
        DATABASE_URL=database_url,
        AUTOPAY_BACKUP_KEEP="2",
        AUTOPAY_BACKUP_S3_PREFIX="ledger/daily",
        AUTOPAY_BACKUP_S3_SSE="AES256",
        AUTOPAY_PROGRESS_INTERVAL_S="0.05",
    )
    _ok(autopay(env, "seed"))
    for _ in range(2):
        _ok(autopay(env, "backup"))
    before = fingerprint(database_url)  # what the third archive holds (its event comes after)
    third = autopay(env, "backup")
    out = _ok(third)
    uploaded = re.search(r"^uploaded to (s3://\S+)$", out, re.M)
    assert uploaded, out
    url = uploaded.group(1)
    assert re.fullmatch(rf"s3://{s3_server.bucket}/ledger/daily/{ARCHIVE.pattern}", url)
    assert re.search(r"^rotated out of the bucket: ledger/daily/autopay-", out, re.M), out
    assert "backup: pg_dump:" in third.stderr  # progress while the dump is written

    # Rotation in the bucket and on disk: the two newest, encrypted at rest.
    client = s3_server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_server.bucket)["Contents"]]
    assert len(keys) == 2 and url.endswith(max(keys))
    assert client.head_object(Bucket=s3_server.bucket, Key=max(keys))["ServerSideEncryption"] == (
        "AES256"
    )
    local = sorted(p.name for p in (tmp_path / "home" / "backups").iterdir())
    assert local == sorted(k.rsplit("/", 1)[1] for k in keys)

    events = _backup_events(database_url)
    assert [(agent, severity, d["outcome"]) for agent, severity, d in events] == [
        (None, "INFO", "ok")
    ] * 3
    assert events[-1][2]["uploaded_to"] == url and len(events[-1][2]["remote_removed"]) == 1

    listing = _ok(autopay(env, "backup", "list"))
    for key in keys:
        assert f"s3://{s3_server.bucket}/{key}" in listing
        assert key.rsplit("/", 1)[1] in listing.split("remote")[0]  # the local copy too

    # Restore from S3 into a fresh, empty database: the ledger comes back identical.
    fresh = scratch.create_database(server_url, f"{Path(tmp_path).name[:40]}_restored")
    try:
        restored = autopay({**env, "DATABASE_URL": fresh}, "restore", url)
        assert _ok(restored).strip() == f"restored {url}"
        assert "restore: " in restored.stderr and " objects" in restored.stderr
        assert fingerprint(fresh) == before
        assert fingerprint(fresh)["payments"][0] > 0
        assert _table_owner(fresh, "payments") == "autopay_owner"  # roles re-applied
        assert sorted(p.name for p in (tmp_path / "home" / "backups").iterdir()) == local
        again = _one_line_failure(autopay({**env, "DATABASE_URL": fresh}, "restore", url))
        assert "restore needs an empty database" in again
    finally:
        scratch.drop_database(server_url, f"{Path(tmp_path).name[:40]}_restored")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"AUTOPAY_BACKUP_S3_BUCKET": "no-such-bucket"}, "the bucket does not exist"),
        ({"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "access denied (SignatureDoesNotMatch)"),
        ({"AWS_ACCESS_KEY_ID": "AKIANOBODY0000000000"}, "access denied (InvalidAccessKeyId)"),
    ],
)
def test_failed_upload_keeps_the_dump_exits_1_and_is_recorded(
    s3_server: S3Server,
    database_url: str,
    tmp_path: Path,
    overrides: dict[str, str],
    reason: str,
) -> None:
    env = s3_server.env(tmp_path / "home", DATABASE_URL=database_url, **overrides)
    done = autopay(env, "backup")
    line = _one_line_failure(done)
    assert line.startswith("autopay: upload of autopay-") and reason in line, line
    kept = list((tmp_path / "home" / "backups").glob("autopay-*.dump"))
    assert len(kept) == 1 and kept[0].stat().st_size > 0
    assert f"backup written: {kept[0]}" in done.stdout and str(kept[0]) in line
    [(agent, severity, details)] = _backup_events(database_url)
    assert (agent, severity, details["outcome"]) == (None, "ERROR", "failed")
    assert reason in details["error"] and details["uploaded_to"] is None

    listed = _one_line_failure(autopay(env, "backup", "list"))
    assert reason in listed and "listing s3://" in listed


def test_restore_of_a_missing_object_or_a_bad_url_is_one_line(
    s3_server: S3Server, database_url: str, server_url: str, tmp_path: Path
) -> None:
    name = f"{tmp_path.name[:40]}_empty"
    empty = scratch.create_database(server_url, name)
    try:
        env = s3_server.env(tmp_path, DATABASE_URL=empty)
        missing = _one_line_failure(
            autopay(env, "restore", f"s3://{s3_server.bucket}/autopay-19990101T000000000000Z.dump")
        )
        assert "download of s3://" in missing and "no such object" in missing
        bad = _one_line_failure(autopay(env, "restore", "s3://Bad_Bucket/x"))
        assert "not an S3 object URL" in bad
        wrong = {**env, **aws_env(tmp_path, s3_server.access_key, "nope")}
        denied = _one_line_failure(
            autopay(wrong, "restore", f"s3://{s3_server.bucket}/ledger/anything.dump")
        )
        assert "access denied (403): check the AWS credentials" in denied
    finally:
        scratch.drop_database(server_url, name)


def test_scheduler_daily_job_uploads_and_records_failures(
    s3_server: S3Server, app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in aws_env(
        app.config["AUTOPAY_SETTINGS"].home, s3_server.access_key, s3_server.secret_key
    ).items():
        monkeypatch.setenv(key, value)
    base = replace(
        app.config["AUTOPAY_SETTINGS"],
        backup_s3_bucket=s3_server.bucket,
        backup_s3_endpoint=s3_server.endpoint,
        backup_s3_prefix="scheduler/",
    )
    app.config["AUTOPAY_SETTINGS"] = base
    cfg = scheduler_config.load({})
    outcome = run_recorded(app, "backup", cfg)
    assert outcome is not None and outcome["outcome"] == "ok" and outcome["errors"] == []
    assert outcome["uploaded_to"].startswith(f"s3://{s3_server.bucket}/scheduler/autopay-")
    store = S3Store(S3Target.from_settings(base))  # type: ignore[arg-type]
    assert [a.url for a in store.archives()] == [outcome["uploaded_to"]]

    app.config["AUTOPAY_SETTINGS"] = replace(base, backup_s3_bucket="missing-bucket")
    failed = run_recorded(app, "backup", cfg)
    assert failed is not None and failed["outcome"] == "failed"
    assert "NoSuchBucket" in failed["errors"][0]
    assert Path(base.backup_dir / failed["archive"]).is_file()
    runs = [r for r in job_runs.recent(session) if r.job == "backup"]
    assert sorted(r.status for r in runs) == ["ERROR", "OK"]
    events = backup_events.recent(session)
    assert [(e.severity, e.details["outcome"]) for e in events] == [
        (Severity.ERROR, "failed"),
        (Severity.INFO, "ok"),
    ]
