"""Errors raised by the harness.

One root, so callers can catch everything the harness raises in one place::

    HarnessError
    ├── RpcError            a JSON-RPC error answer (code, message, data)
    ├── FundError           the faucet could not fund an address
    ├── StateError          saved state could not be read or written
    └── HarnessStartError   the harness process did not become ready (testing)
"""

from __future__ import annotations

from typing import Any

# JSON-RPC 2.0 and Solana node error codes, as an Agave node sends them.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SEND_TRANSACTION_PREFLIGHT_FAILURE = -32002
TRANSACTION_SIGNATURE_VERIFICATION_FAILURE = -32003
NODE_UNHEALTHY = -32005


class HarnessError(Exception):
    """Root of every error the harness raises."""


class RpcError(HarnessError):
    """A JSON-RPC error to send back to the caller.

    Attributes:
        code: The JSON-RPC error code.
        message: The human-readable message, worded as a Solana node words it.
        data: Optional structured data (e.g. a simulation result).
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-RPC ``error`` object."""
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def invalid_params(message: str) -> RpcError:
    """Build a -32602 error."""
    return RpcError(INVALID_PARAMS, message)


class FundError(HarnessError):
    """The faucet could not fund an address (bad address, bad amount, failed mint)."""


class StateError(HarnessError):
    """Saved state could not be read or written."""


class HarnessStartError(HarnessError):
    """A harness subprocess exited or timed out before printing its READY line."""
