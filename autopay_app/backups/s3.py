"""Backups in an S3-compatible bucket: upload, list, rotate, download.

Credentials come from boto3's standard chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and the shared config files, an
instance or container role); they never pass through Autopay's configuration.
With AUTOPAY_BACKUP_S3_ENDPOINT (MinIO, Ceph, R2, ...) requests use path-style
addressing and send checksums only where the API requires them, which every
S3-compatible server understands. Each failure becomes a :class:`BackupError`
with one line that says what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from autopay_app.config import Settings
from autopay_app.errors import BackupError
from autopay_app.ledger.backup import PREFIX, SUFFIX

S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>[^\x00-\x1f]+)$")
DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}


@dataclass(frozen=True)
class S3Target:
    """Where backups go: a bucket, an optional endpoint and key prefix, encryption."""

    bucket: str
    endpoint: str | None = None
    prefix: str = ""
    sse: str | None = None
    kms_key_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Target | None:
        """The configured target; None when AUTOPAY_BACKUP_S3_BUCKET is unset."""
        if not settings.backup_s3_bucket:
            return None
        return cls(
            settings.backup_s3_bucket,
            settings.backup_s3_endpoint,
            settings.backup_s3_prefix,
            settings.backup_s3_sse,
            settings.backup_s3_kms_key_id,
        )

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


@dataclass(frozen=True)
class RemoteArchive:
    key: str
    size: int
    modified: datetime
    url: str


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key).

    Raises:
        BackupError: Not an s3:// URL with a valid bucket name and a key.
    """
    match = S3_URL.match(url.strip())
    if match is None:
        raise BackupError(f"not an S3 object URL (s3://bucket/key): {url[:200]!r}")
    return match["bucket"], match["key"]


def describe(exc: BaseException, action: str) -> str:
    """One line for a failed ``action``: the S3 error code and what to check."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, ClientError | BotoCoreError):
        seen = seen.__cause__ or seen.__context__
    if isinstance(seen, NoCredentialsError):
        return (
            f"{action} failed: no AWS credentials (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"
        )
    if isinstance(seen, ClientError):
        error = seen.response.get("Error", {})
        code = str(error.get("Code", "?"))
        if code in ("NoSuchBucket",):
            return f"{action} failed: the bucket does not exist (NoSuchBucket)"
        if code in DENIED:
            return f"{action} failed: access denied ({code}): check the AWS credentials"
        if code in ("NoSuchKey", "404", "NotFound"):
            return f"{action} failed: no such object ({code})"
        return f"{action} failed: {code}: {str(error.get('Message', ''))[:200]}"
    text = " ".join(str(seen or exc).split())
    return f"{action} failed: {text[:300]}"


class S3Store:
    """The backups in one bucket (under the target's prefix)."""

    def __init__(self, target: S3Target, client: Any | None = None) -> None:
        self.target = target
        self.client = client or _client(target.endpoint)

    def key_for(self, name: str) -> str:
        return f"{self.target.prefix}{name}"

    def upload(self, path: Path, progress: Callable[[int], None] | None = None) -> str:
        """Upload the archive at ``path``; returns its ``s3://`` URL."""
        key = self.key_for(path.name)
        extra: dict[str, str] = {}
        if self.target.sse:
            extra["ServerSideEncryption"] = self.target.sse
            if self.target.sse == "aws:kms" and self.target.kms_key_id:
                extra["SSEKMSKeyId"] = self.target.kms_key_id
        try:
            self.client.upload_file(
                str(path), self.target.bucket, key, ExtraArgs=extra or None, Callback=progress
            )
        except Exception as exc:  # boto3 raises its own and botocore's types
            action = f"upload of {path.name} to s3://{self.target.bucket}"
            raise BackupError(describe(exc, action)) from None
        return self.target.url(key)

    def archives(self) -> list[RemoteArchive]:
        """The backups in the bucket, oldest first (their names sort by time)."""
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.target.bucket, Prefix=self.key_for(PREFIX)
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["Key"].endswith(SUFFIX):
                        found.append(
                            RemoteArchive(
                                item["Key"],
                                int(item["Size"]),
                                item["LastModified"],
                                self.target.url(item["Key"]),
                            )
                        )
        except Exception as exc:
            raise BackupError(describe(exc, f"listing s3://{self.target.bucket}")) from None
        return sorted(found, key=lambda a: a.key)

    def rotate(self, keep: int) -> list[str]:
        """Delete all but the ``keep`` newest backups in the bucket; returns the removed keys."""
        found = self.archives()
        doomed = [a.key for a in (found[:-keep] if keep > 0 else found)]
        for start in range(0, len(doomed), 1000):
            batch = [{"Key": key} for key in doomed[start : start + 1000]]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.target.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except Exception as exc:
                raise BackupError(describe(exc, f"rotation in s3://{self.target.bucket}")) from None
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise BackupError(
                    f"rotation in s3://{self.target.bucket} failed: {first.get('Key')}: "
                    f"{first.get('Code')}"
                )
        return doomed

    def size(self, key: str) -> int:
        """The size of object ``key`` in bytes (which also proves it is there)."""
        try:
            head = self.client.head_object(Bucket=self.target.bucket, Key=key)
        except Exception as exc:
            raise BackupError(describe(exc, f"download of {self.target.url(key)}")) from None
        return int(head["ContentLength"])

    def download(
        self, key: str, destination: Path, progress: Callable[[int], None] | None = None
    ) -> None:
        """Download ``key`` to ``destination`` (0600)."""
        try:
            self.client.download_file(self.target.bucket, key, str(destination), Callback=progress)
        except Exception as exc:
            raise BackupError(describe(exc, f"download of {self.target.url(key)}")) from None
        destination.chmod(0o600)


def _client(endpoint: str | None) -> Any:
    # boto3 takes half a second to import: only the commands that reach S3 pay for it.
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "retries": {"max_attempts": 3, "mode": "standard"},
        "connect_timeout": 10,
        "read_timeout": 120,
    }
    if endpoint:
        options["s3"] = {"addressing_style": "path"}
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    try:
        return boto3.session.Session().client("s3", endpoint_url=endpoint, config=Config(**options))
    except Exception as exc:  # a malformed region or profile in the AWS config
        raise BackupError(describe(exc, "S3 client set-up")) from None
