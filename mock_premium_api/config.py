"""Configuration of the mock premium API: environment -> one typed object.

Every setting has a safe default, can come from the environment, and can be
overridden by ``create_app(config={...})`` (keys are the field names of
:class:`MockApiConfig`, lower case). A bad value stops the start with a
one-line :class:`ConfigError` that names the variable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from .catalog import ENDPOINTS
from .faults import validate_faults

SOLANA_DEVNET = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
DEVNET_USDC_MINT = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
# The harness's Token-2022 CASH stand-in (harness/genesis.py CASH_MINT): derived
# from a fixed seed, so it is the same on every run. Not imported: the two
# services share nothing but configuration.
DEFAULT_CASH_MINT = "9xF5q1LJ373SP5HEmKd7MgTTzLLJCuDfFsUZGbRX3PYo"
ASSET_DECIMALS = 6
SELLER_KEYPAIR_FILE = "seller-keypair.json"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names it."""


@dataclass(frozen=True)
class MockApiConfig:
    """All settings of the mock premium API.

    Attributes:
        facilitator_url: Base URL of the x402 facilitator (verify/settle/supported).
        rpc_url: Solana JSON-RPC URL (used only for optional blockhash checks).
        pay_to: The seller's wallet (base58); payments go to its token accounts.
        usdc_mint: USDC mint (classic SPL Token program).
        cash_mint: CASH mint (Token-2022).
        cash_token_program: Token program that owns the CASH mint.
        usdc_token_program: Token program that owns the USDC mint.
        network: CAIP-2 network the API is paid on.
        prices: Per-endpoint path, per asset symbol, decimal price.
        seed: Seed of the data generators (random walks).
        max_timeout_seconds: Payment validity window advertised in requirements.
        facilitator_timeout: Seconds to wait for the facilitator before 503.
        retry_after_seconds: Retry-After sent with 503 answers.
        max_header_bytes: Larger request headers are refused with 431.
        state_dir: Where the generated seller keypair lives.
        faults: Fault knobs in force at start (see :mod:`faults`).
        start_wait_seconds: How long the start waits for the RPC to check the
            seller's token accounts.
        workers: gunicorn worker processes (the replay ledger is per worker).
        threads: Threads per worker.
    """

    facilitator_url: str = "http://127.0.0.1:8403"
    rpc_url: str = "http://127.0.0.1:8899"
    pay_to: str = ""
    usdc_mint: str = DEVNET_USDC_MINT
    cash_mint: str = DEFAULT_CASH_MINT
    cash_token_program: str = TOKEN_2022_PROGRAM
    usdc_token_program: str = TOKEN_PROGRAM
    network: str = SOLANA_DEVNET
    prices: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    seed: int = 402
    max_timeout_seconds: int = 60
    facilitator_timeout: float = 10.0
    retry_after_seconds: int = 2
    max_header_bytes: int = 16384
    state_dir: str = ".autopay"
    faults: dict[str, Any] = field(default_factory=dict)
    start_wait_seconds: float = 15.0
    workers: int = 1
    threads: int = 16

    def assets(self) -> dict[str, tuple[str, str]]:
        """Return ``{symbol: (mint, token_program)}`` for the accepted assets."""
        return {
            "USDC": (self.usdc_mint, self.usdc_token_program),
            "CASH": (self.cash_mint, self.cash_token_program),
        }


# variable name -> (field, parser)
_ENV: dict[str, tuple[str, str]] = {
    "X402_FACILITATOR_URL": ("facilitator_url", "url"),
    "SOLANA_RPC_URL": ("rpc_url", "url"),
    "MOCK_API_PAY_TO": ("pay_to", "pubkey"),
    "USDC_MINT": ("usdc_mint", "pubkey"),
    "CASH_MINT": ("cash_mint", "pubkey"),
    "CASH_TOKEN_PROGRAM": ("cash_token_program", "pubkey"),
    "MOCK_API_PRICES": ("prices", "prices"),
    "MOCK_API_SEED": ("seed", "int"),
    "MOCK_API_MAX_TIMEOUT_SECONDS": ("max_timeout_seconds", "posint"),
    "MOCK_API_FACILITATOR_TIMEOUT": ("facilitator_timeout", "posfloat"),
    "MOCK_API_STATE_DIR": ("state_dir", "str"),
    "MOCK_API_FAULTS": ("faults", "faults"),
    "MOCK_API_START_WAIT_SECONDS": ("start_wait_seconds", "posfloat"),
    "MOCK_API_WORKERS": ("workers", "posint"),
    "MOCK_API_THREADS": ("threads", "posint"),
}


def load_config(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> MockApiConfig:
    """Build the configuration: defaults, then the environment, then overrides.

    Args:
        overrides: Field values that win over the environment (tests, CLI).
        environ: Environment to read; ``os.environ`` when omitted.

    Returns:
        The validated configuration, with ``pay_to`` always set.

    Raises:
        ConfigError: A value is malformed; the message names the variable.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var, (name, kind) in _ENV.items():
        raw = env.get(var)
        if raw is not None and raw.strip() != "":
            values[name] = _parse(var, kind, raw.strip())
    if "state_dir" not in values and env.get("AUTOPAY_HOME", "").strip():
        # One home for everything of a user who set it (the keypair never lands in the cwd).
        values["state_dir"] = env["AUTOPAY_HOME"].strip()
    known = {f.name for f in fields(MockApiConfig)}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown mock API setting {key!r}")
        if key in ("prices", "faults") and not isinstance(value, str):
            value = json.dumps(value, default=str)
        values[key] = _parse(key, _kind_of(key), value) if isinstance(value, str) else value
    prices = default_prices()
    for path, per_asset in values.pop("prices", {}).items():
        prices[path] = {**prices[path], **per_asset}
    config = MockApiConfig(**values, prices=prices)
    if not config.pay_to:
        config = replace(config, pay_to=ensure_seller_keypair(Path(config.state_dir)))
    return config


def default_prices() -> dict[str, dict[str, Decimal]]:
    """Return the built-in prices: each endpoint's default, in USDC and CASH."""
    return {e.path: {"USDC": e.default_price, "CASH": e.default_price} for e in ENDPOINTS}


def ensure_seller_keypair(state_dir: Path) -> str:
    """Create the seller keypair once (mode 0600) and return its public key.

    Args:
        state_dir: Directory holding ``seller-keypair.json`` (Solana CLI format).

    Returns:
        The seller's public key, base58.
    """
    path = state_dir / SELLER_KEYPAIR_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        keypair = Keypair()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(list(bytes(keypair)), handle)
    try:
        secret = bytes(json.loads(path.read_text()))
        return str(Keypair.from_bytes(secret).pubkey())
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{path}: not a Solana keypair file ({error})") from error


def _kind_of(name: str) -> str:
    for field_name, kind in _ENV.values():
        if field_name == name:
            return kind
    return "str"


def _parse(var: str, kind: str, raw: str) -> Any:
    parser = _PARSERS[kind]
    try:
        return parser(raw)
    except (ValueError, TypeError, InvalidOperation) as error:
        raise ConfigError(f"{var}: {error}") from None


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _pubkey(raw: str) -> str:
    try:
        return str(Pubkey.from_string(raw))
    except ValueError:
        raise ValueError(f"not a base58 Solana address: {raw!r}") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(f"must be positive, got {raw}")
    return value


def parse_price(raw: Any) -> Decimal:
    """Parse a decimal price with at most 6 decimals, strictly positive.

    Args:
        raw: A string or number such as ``"0.01"``.

    Returns:
        The price as a Decimal.

    Raises:
        ValueError: Not a positive decimal with at most 6 decimals.
    """
    if isinstance(raw, float | bool):
        raise ValueError(f"price must be a decimal string, got {raw!r}")
    value = Decimal(str(raw))
    if not value.is_finite() or value <= 0:
        raise ValueError(f"price must be positive, got {raw!r}")
    if value != value.quantize(Decimal(1).scaleb(-ASSET_DECIMALS)):
        raise ValueError(f"price {raw!r} has more than {ASSET_DECIMALS} decimals")
    return value


def _prices(raw: str) -> dict[str, dict[str, Decimal]]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object {path: price | {asset: price}}")
    known = {e.path for e in ENDPOINTS}
    result: dict[str, dict[str, Decimal]] = {}
    for path, value in data.items():
        if path not in known:
            raise ValueError(f"unknown endpoint {path!r}; known: {sorted(known)}")
        if isinstance(value, dict):
            bad = set(value) - {"USDC", "CASH"}
            if bad:
                raise ValueError(f"unknown asset(s) {sorted(bad)} for {path}")
            result[path] = {asset: parse_price(p) for asset, p in value.items()}
        else:
            price = parse_price(value)
            result[path] = {"USDC": price, "CASH": price}
    return result


def _faults(raw: str) -> dict[str, Any]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object of fault knobs")
    validate_faults(data)
    return data


_PARSERS: dict[str, Callable[[str], Any]] = {
    "url": _url,
    "pubkey": _pubkey,
    "int": int,
    "posint": _positive_int,
    "posfloat": _positive_float,
    "prices": _prices,
    "faults": _faults,
    "str": str,
}
