"""The person's own wallet (Phantom, through the Wallet Standard) on the dashboard.

The browser discovers and connects the wallet (``static/js/wallet.js``); the
server only ever sees its public address. These views are thin: they parse the
address and call the chain reads and the wallet services of the agent
(:mod:`autopay_app.agent.topup`, :mod:`autopay_app.agent.external`).

* ``GET /wallet/balances?address=...``: the wallet's SOL/USDC/CASH read on the
  app's RPC (the page's Content-Security-Policy lets it talk to this origin only)
  and the cluster the app is on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import jsonify, request
from solders.pubkey import Pubkey
from werkzeug.exceptions import ServiceUnavailable

from autopay_app.agent.chain import Chain
from autopay_app.agent.errors import AgentError
from autopay_app.web import LOCAL_HOSTS
from autopay_app.web.dashboard import bp
from autopay_app.web.params import BadParameter
from autopay_app.web.security import settings

#: Wallet Standard chains the app accepts: Devnet-style networks only, never mainnet.
DEVNET_CHAINS = ("solana:devnet", "solana:testnet", "solana:localnet")


def parse_address(raw: Any, name: str = "address") -> str:
    """A base58 Solana public key, or a 400 naming the field."""
    if not isinstance(raw, str) or not 32 <= len(raw) <= 44:
        raise BadParameter(name, "not a Solana address")
    try:
        return str(Pubkey.from_string(raw))
    except ValueError:
        raise BadParameter(name, "not a Solana address") from None


def cluster() -> str:
    """What the app's RPC is: the local harness (a Devnet stand-in) or Devnet."""
    rpc = settings().solana_rpc_url
    if urlsplit(rpc).hostname in LOCAL_HOSTS:
        return f"local harness (Devnet stand-in) at {rpc}"
    return "devnet"


def chain() -> Chain:
    s = settings()
    return Chain(s.solana_rpc_url, s.usdc_mint, s.cash_mint)


@bp.get("/wallet/balances")
def wallet_balances() -> Any:
    address = parse_address(request.args.get("address"))
    reader = chain()
    try:
        read = reader.balances(address)
    except AgentError as exc:
        raise ServiceUnavailable(f"{exc.category}: balances unreadable: {exc}") from None
    finally:
        reader.close()
    return jsonify(
        address=address,
        cluster=cluster(),
        chains=list(DEVNET_CHAINS),
        SOL=str(read.sol),
        USDC=str(read.usdc),
        CASH=str(read.cash),
    )
