"""The agent's keypair: a solana-keygen JSON array or a Phantom base58 export.

Created on first use (mode 0600, atomically) when the file is absent. Only the public key
ever reaches the database (``agents.wallet_address``).
"""

from __future__ import annotations

import json
from pathlib import Path

import base58
from solders.keypair import Keypair

from autopay_app.errors import ConfigError
from autopay_app.secrets import create_private_once


def parse_keypair(text: str, source: str = "AUTOPAY_KEYPAIR") -> Keypair:
    """Parse a keypair from a JSON byte array or a base58 string.

    Raises:
        ConfigError: The text is neither.
    """
    text = text.strip()
    try:
        if text.startswith("["):
            raw = bytes(json.loads(text))
        else:
            raw = base58.b58decode(text)
        if len(raw) == 64:
            return Keypair.from_bytes(raw)
        if len(raw) == 32:
            return Keypair.from_seed(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: not a keypair ({exc})") from None
    raise ConfigError(f"{source}: a keypair has 64 bytes (or a 32-byte seed), got {len(raw)}")


def load_or_create(path: Path) -> Keypair:
    """Load the keypair at ``path``, creating a new one (mode 0600, atomically) if absent.

    Of processes creating it at once, the first wins and the others load its keypair.
    """
    text, _ = create_private_once(path, lambda: json.dumps(list(bytes(Keypair()))))
    return parse_keypair(text, str(path))
