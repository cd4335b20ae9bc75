"""Secrets at rest: AES-GCM under a key derived (HKDF-SHA256) from AUTOPAY_SECRET_KEY.

The key material is any string of at least 32 characters. When the variable is
unset, one is generated once under ``AUTOPAY_HOME/secret.key`` (mode 0600) and
reused. The database only ever holds ciphertext: ``version || nonce || ct+tag``.
PostgreSQL's pgcrypto is not used: the embedded server lacks it, and the key
belongs outside the database anyway.
"""

from __future__ import annotations

import os
import secrets as pysecrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from autopay_app.errors import SecretError

_VERSION = b"\x01"
_NONCE_BYTES = 12
_INFO = b"autopay-agent session token v1"


def write_private_file(path: Path, content: str) -> None:
    """Create ``path`` with mode 0600 (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def load_or_create_key_material(configured: str | None, home: Path) -> str:
    """Return the configured key material, or the one stored under ``home``."""
    if configured:
        return configured
    path = home / "secret.key"
    if not path.exists():
        try:
            write_private_file(path, pysecrets.token_urlsafe(48))
        except FileExistsError:
            pass  # another process created it first: use theirs
    material = path.read_text().strip()
    if len(material) < 32:
        raise SecretError(f"{path} holds fewer than 32 characters; delete it to regenerate")
    return material


class SecretBox:
    """Encrypts and decrypts small secrets with one derived AES-256-GCM key."""

    def __init__(self, key_material: str) -> None:
        if len(key_material) < 32:
            raise SecretError("AUTOPAY_SECRET_KEY must be at least 32 characters long")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            key_material.encode()
        )
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, *, context: bytes = b"") -> bytes:
        """Encrypt ``plaintext``; ``context`` is authenticated but not stored."""
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context)

    def decrypt(self, blob: bytes, *, context: bytes = b"") -> str:
        """Decrypt ``blob``.

        Raises:
            SecretError: Wrong key, wrong context, or tampered ciphertext.
        """
        blob = bytes(blob)
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise SecretError("not an Autopay secret (bad version or length)")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context).decode()
        except InvalidTag:
            raise SecretError(
                "cannot decrypt: the secret was written under another AUTOPAY_SECRET_KEY "
                "or has been tampered with"
            ) from None
