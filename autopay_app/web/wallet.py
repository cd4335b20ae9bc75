"""The person's own wallet (Phantom, through the Wallet Standard) on the dashboard.

The browser discovers and connects the wallet (``static/js/wallet.js``); the
server only ever sees its public address. These views are thin: they parse the
address and call the chain reads and the wallet services of the agent
(:mod:`autopay_app.agent.topup`, :mod:`autopay_app.agent.external`).

* ``GET /wallet/balances?address=...``: the wallet's SOL/USDC/CASH read on the
  app's RPC (the page's Content-Security-Policy lets it talk to this origin only)
  and the cluster the app is on.
* Top-up (:mod:`.wallet_topup`) and paying an approval with the wallet
  (:mod:`.wallet_pay`): JSON in and out, the CSRF token in ``X-CSRFToken``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, jsonify, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from solders.pubkey import Pubkey
from werkzeug.exceptions import (
    BadGateway,
    BadRequest,
    Conflict,
    HTTPException,
    ServiceUnavailable,
)

from autopay_app.agent.chain import Chain
from autopay_app.agent.errors import AgentError
from autopay_app.agent.external import Held
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


#: How long a transaction built for the wallet may wait for its signature.
HELD_MAX_AGE_S = 120


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="autopay-wallet-held")


def seal(held: Held) -> str:
    """``held`` as an opaque token the page carries back with the signed transaction."""
    return _serializer().dumps(held.to_dict())


def unseal(token: str, kind: str) -> Held:
    """The held transaction the app built, if ``token`` is one of ``kind`` and fresh.

    Raises:
        BadParameter: Forged, altered, of another kind, or older than HELD_MAX_AGE_S.
    """
    try:
        data = _serializer().loads(token, max_age=HELD_MAX_AGE_S)
        held = Held.from_dict(data)
    except SignatureExpired:
        raise BadParameter("key", "the transaction waited too long: build it again") from None
    except (BadSignature, KeyError, TypeError, ValueError):
        raise BadParameter("key", "not a transaction this app built") from None
    if held.kind != kind:
        raise BadParameter("key", f"not a {kind} transaction")
    return held


def json_body(*names: str) -> dict[str, Any]:
    """The JSON object of the request with ``names`` (strings of at most 8000 characters).

    Raises:
        BadParameter: Not a JSON object, or a field missing or not a short string.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadParameter("body", "not a JSON object")
    for name in names:
        value = body.get(name)
        if not isinstance(value, str) or not value or len(value) > 8000:
            raise BadParameter(name, "missing or not a string of at most 8000 characters")
    return body


#: How the agent's refusals reach the page: bad input 400, a conflict with the ledger or
#: the chain's state 409, a chain that did not answer 502.
STATUS_BY_CATEGORY: dict[str, type[HTTPException]] = {
    "POLICY_DENIED": Conflict,
    "INSUFFICIENT_FUNDS": Conflict,
    "SIGNATURE_INVALID": BadRequest,
    "WALLET_REFUSED": Conflict,
}


def refused(exc: AgentError) -> HTTPException:
    """The HTTP error for an agent error, naming its classification."""
    kind = STATUS_BY_CATEGORY.get(exc.category, BadGateway)
    error: HTTPException = kind(f"{exc.category}: {exc}")
    error.category = exc.category  # type: ignore[attr-defined]
    return error


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
