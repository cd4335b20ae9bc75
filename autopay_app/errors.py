"""The one error root of Autopay Agent.

Every error the application raises on purpose derives from :class:`AutopayError`
and carries a classification, so a caller can record it in the ledger without
guessing::

    AutopayError
    ├── ConfigError            bad environment variable (names it)
    ├── DatabaseError          the ledger database cannot be reached or prepared
    ├── SecretError            encryption key missing, or a ciphertext that does not open
    ├── LedgerError            a ledger operation refused (unknown agent, bad state)
    └── BackupError            pg_dump / pg_restore failed, or the target is not empty

Later packages (the agent, the scheduler) hang their own subtrees below it.
"""

from __future__ import annotations


class AutopayError(Exception):
    """Root of every deliberate Autopay Agent error.

    Attributes:
        category: The error classification written to the ledger.
        retryable: Whether retrying the same operation may succeed.
    """

    category: str = "UNKNOWN"
    retryable: bool = False

    def __init__(
        self, message: str, *, category: str | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if category is not None:
            self.category = category
        if retryable is not None:
            self.retryable = retryable


class ConfigError(AutopayError):
    """A configuration value is missing or malformed; the message names the variable."""

    category = "CONFIG"


class DatabaseError(AutopayError):
    """The ledger database cannot be reached, started or prepared."""

    category = "NETWORK"
    retryable = True


class SecretError(AutopayError):
    """A secret cannot be encrypted or decrypted (wrong key, tampered data)."""

    category = "SECRET"


class LedgerError(AutopayError):
    """A ledger operation was refused."""

    category = "LEDGER"


class BackupError(AutopayError):
    """A backup or a restore failed."""

    category = "BACKUP"
