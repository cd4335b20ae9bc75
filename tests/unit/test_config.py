"""Configuration: safe defaults, and a one-line error naming the bad variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from autopay_app.config import load_settings, normalise_database_url
from autopay_app.errors import ConfigError


def test_defaults_point_at_the_local_harness() -> None:
    s = load_settings({})
    assert s.database_url is None and s.embedded_database
    assert s.solana_rpc_url == "http://127.0.0.1:8899"
    assert s.facilitator_url == "http://127.0.0.1:8403"
    assert s.premium_api_url == "http://127.0.0.1:8402"
    assert s.retention_days == 90 and s.host == "127.0.0.1" and s.port == 5000
    assert s.keypair_path == s.home / "agent-keypair.json"
    assert (s.http_deadline_s, s.fetch_deadline_s) == (30.0, 120.0)
    assert s.max_body_bytes == 8 * 1024 * 1024 and s.secure_cookies == "auto"


def test_sslmode_urls_work_and_map_to_psycopg() -> None:
    s = load_settings({"DATABASE_URL": "postgres://u:p@db.example:5432/ledger?sslmode=require"})
    assert s.database_url == "postgresql+psycopg://u:p@db.example:5432/ledger?sslmode=require"
    assert normalise_database_url("postgresql://x/y") == "postgresql+psycopg://x/y"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"SOLANA_RPC_URL": "not a url"}, "SOLANA_RPC_URL"),
        ({"X402_FACILITATOR_URL": "ftp://x"}, "X402_FACILITATOR_URL"),
        ({"AUTOPAY_RETENTION_DAYS": "ninety"}, "AUTOPAY_RETENTION_DAYS"),
        ({"AUTOPAY_RETENTION_DAYS": "0"}, "AUTOPAY_RETENTION_DAYS"),
        ({"AUTOPAY_PORT": "70000"}, "AUTOPAY_PORT"),
        ({"AUTOPAY_SECRET_KEY": "short"}, "AUTOPAY_SECRET_KEY"),
        ({"AUTOPAY_BACKUP_S3_BUCKET": "Not_A_Bucket"}, "AUTOPAY_BACKUP_S3_BUCKET"),
        ({"AUTOPAY_BACKUP_S3_BUCKET": "ab"}, "AUTOPAY_BACKUP_S3_BUCKET"),
        ({"AUTOPAY_BACKUP_S3_ENDPOINT": "s3.local:9000"}, "AUTOPAY_BACKUP_S3_ENDPOINT"),
        ({"AUTOPAY_BACKUP_S3_SSE": "rot13"}, "AUTOPAY_BACKUP_S3_SSE"),
        ({"AUTOPAY_BACKUP_S3_PREFIX": "a/../b"}, "AUTOPAY_BACKUP_S3_PREFIX"),
        ({"AUTOPAY_BACKUP_S3_PREFIX": "bad\x00prefix"}, "AUTOPAY_BACKUP_S3_PREFIX"),
        ({"AUTOPAY_PROGRESS_INTERVAL_S": "often"}, "AUTOPAY_PROGRESS_INTERVAL_S"),
        ({"AUTOPAY_PROGRESS_INTERVAL_S": "0"}, "AUTOPAY_PROGRESS_INTERVAL_S"),
        ({"AUTOPAY_HTTP_DEADLINE_S": "soon"}, "AUTOPAY_HTTP_DEADLINE_S"),
        ({"AUTOPAY_FETCH_DEADLINE_S": "0"}, "AUTOPAY_FETCH_DEADLINE_S"),
        ({"AUTOPAY_MAX_BODY_BYTES": "8 MiB"}, "AUTOPAY_MAX_BODY_BYTES"),
        ({"AUTOPAY_MAX_BODY_BYTES": "10"}, "AUTOPAY_MAX_BODY_BYTES"),
        ({"AUTOPAY_SECURE_COOKIES": "yes"}, "AUTOPAY_SECURE_COOKIES"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env)


def test_backup_and_progress_settings_are_parsed() -> None:
    s = load_settings(
        {
            "AUTOPAY_BACKUP_S3_BUCKET": "ledger-backups.prod",
            "AUTOPAY_BACKUP_S3_ENDPOINT": "http://127.0.0.1:9000",
            "AUTOPAY_BACKUP_S3_PREFIX": "/autopay/daily",
            "AUTOPAY_BACKUP_S3_SSE": "AWS:KMS",
            "AUTOPAY_BACKUP_S3_KMS_KEY_ID": "alias/backups",
            "AUTOPAY_PROGRESS_INTERVAL_S": "2.5",
        }
    )
    assert s.backup_s3_bucket == "ledger-backups.prod"
    assert s.backup_s3_endpoint == "http://127.0.0.1:9000"
    assert s.backup_s3_prefix == "autopay/daily/"
    assert (s.backup_s3_sse, s.backup_s3_kms_key_id) == ("aws:kms", "alias/backups")
    assert s.progress_interval_s == 2.5
    defaults = load_settings({})
    assert (defaults.backup_s3_bucket, defaults.backup_s3_prefix, defaults.backup_s3_sse) == (
        None,
        "",
        None,
    )
    assert defaults.progress_interval_s == 5.0


def test_cli_prints_one_line_and_no_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "AUTOPAY_HOME": str(tmp_path), "AUTOPAY_PORT": "nope"}
    done = subprocess.run(
        [sys.executable, "-c", "from autopay_app.cli import main; main()", "seed"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "autopay: configuration error: AUTOPAY_PORT must be a whole number, got 'nope'"
    ]


# A well-formed URL nothing listens on: the ledger check comes before any request.
PORT_9 = "http://127.0.0.1:9/api/market-feed"


def test_a_command_on_an_unmigrated_ledger_says_what_to_run(server_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from autopay_app.devtools import scratch

    name = f"autopay_empty_{os.getpid()}"
    url = scratch.create_database(server_url, name)
    env = {**os.environ, "AUTOPAY_HOME": str(tmp_path), "DATABASE_URL": url}
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from autopay_app.cli import main; main()", "fetch", PORT_9],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        scratch.drop_database(server_url, name)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "autopay: the ledger database has no tables yet: run `autopay db upgrade` first"
    ]
