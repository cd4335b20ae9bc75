"""A real S3-compatible server for the backup tests: moto's standalone server.

It runs as its own process on a free 127.0.0.1 port with IAM authentication
enforced (``INITIAL_NO_AUTH_ACTION_COUNT``: the first three calls create the
backup user, its policy and its access key; every later call must be signed
with that key), so wrong credentials fail as they would against AWS.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

BUCKET = "autopay-backups"
REGION = "us-east-1"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str = BUCKET

    def env(self, home: Path, **overrides: str) -> dict[str, str]:
        """An ``autopay`` environment: this server, these credentials, no ambient AWS config."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOPAY_"))}
        return {
            **base,
            "AUTOPAY_HOME": str(home),
            "AUTOPAY_BACKUP_S3_BUCKET": self.bucket,
            "AUTOPAY_BACKUP_S3_ENDPOINT": self.endpoint,
            **aws_env(home, self.access_key, self.secret_key),
            **overrides,
        }

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


def aws_env(home: Path, access_key: str, secret_key: str) -> dict[str, str]:
    """The standard AWS variables boto3 reads, and nothing from the machine's ~/.aws."""
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _wait(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto server did not listen on {port}: {log.read_text()[-2000:]}")


def _backup_user(endpoint: str) -> tuple[str, str]:
    """The three unauthenticated calls moto allows: a user, its policy, its key."""
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="autopay-backup")
    iam.put_user_policy(
        UserName="autopay-backup", PolicyName="backups", PolicyDocument=json.dumps(POLICY)
    )
    key = iam.create_access_key(UserName="autopay-backup")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server with IAM auth, a backup user and the backup bucket."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3", "AWS_DEFAULT_REGION": REGION}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(port, process, log)
        endpoint = f"http://127.0.0.1:{port}"
        access_key, secret_key = _backup_user(endpoint)
        server = S3Server(endpoint, access_key, secret_key)
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
