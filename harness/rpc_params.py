"""Parameter parsing shared by the JSON-RPC method handlers."""

from __future__ import annotations

from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature

from harness.errors import invalid_params

COMMITMENTS = ("processed", "confirmed", "finalized")
_LEGACY_COMMITMENTS = {
    "recent": "processed",
    "single": "confirmed",
    "singleGossip": "confirmed",
    "root": "finalized",
    "max": "finalized",
}


def param(params: list, index: int, name: str, required: bool = True) -> Any:
    """Return positional parameter ``index`` or raise -32602 when it is missing."""
    if index < len(params) and params[index] is not None:
        return params[index]
    if required:
        raise invalid_params(f"Invalid params: missing parameter `{name}`")
    return None


def config(params: list, index: int) -> dict[str, Any]:
    """Return the optional config object at ``index`` (empty when absent)."""
    value = params[index] if index < len(params) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params("Invalid params: invalid type: expected a config object")
    return value


def commitment(cfg: dict[str, Any], default: str = "finalized") -> str:
    """Return the commitment level named in ``cfg``."""
    level = cfg.get("commitment", default)
    level = _LEGACY_COMMITMENTS.get(level, level)
    if level not in COMMITMENTS:
        raise invalid_params(f"Invalid params: unknown variant `{level}`")
    return level


def pubkey(value: Any) -> Pubkey:
    """Parse a base58 public key or raise -32602 'Invalid param: Invalid'."""
    if not isinstance(value, str):
        raise invalid_params("Invalid params: invalid type: expected a base58 pubkey string")
    try:
        return Pubkey.from_string(value)
    except ValueError as exc:
        raise invalid_params("Invalid param: Invalid") from exc


def signature(value: Any) -> str:
    """Validate a base58 signature and return it as text."""
    if not isinstance(value, str):
        raise invalid_params("Invalid params: invalid type: expected a base58 signature string")
    try:
        return str(Signature.from_string(value))
    except ValueError as exc:
        raise invalid_params("Invalid param: Invalid") from exc


def integer(value: Any, name: str) -> int:
    """Validate a non-negative integer parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_params(f"Invalid params: invalid type for `{name}`: expected u64")
    return value


def encoding(cfg: dict[str, Any], default: str, allowed: tuple[str, ...]) -> str:
    """Return the encoding named in ``cfg``, refusing unknown ones."""
    enc = cfg.get("encoding", default)
    if enc not in allowed:
        raise invalid_params(f"Invalid params: unknown variant `{enc}`, expected one of {allowed}")
    return enc
