"""JSON-RPC handlers for the cluster, accounts and tokens."""

from __future__ import annotations

from typing import Any

from solders.message import from_bytes_versioned

from harness import clock, encoding, tokens
from harness.chain import LAMPORTS_PER_SIGNATURE, Chain
from harness.errors import invalid_params
from harness.rpc_params import commitment, config, integer, param, pubkey

FEATURE_SET = 3_294_202_862
CORE_VERSION = "2.2.20"


def ctx(chain: Chain, value: Any) -> dict[str, Any]:
    """Wrap ``value`` in the ``{"context": {"slot"}, "value"}`` envelope."""
    return {"context": {"apiVersion": CORE_VERSION, "slot": chain.clock.slot()}, "value": value}


def get_health(chain: Chain, params: list) -> str:
    return "ok"


def get_version(chain: Chain, params: list) -> dict[str, Any]:
    return {"feature-set": FEATURE_SET, "solana-core": CORE_VERSION}


def get_slot(chain: Chain, params: list) -> int:
    commitment(config(params, 0))
    return chain.clock.slot()


def get_epoch_info(chain: Chain, params: list) -> dict[str, Any]:
    slot = chain.clock.slot()
    return {
        "absoluteSlot": slot,
        "blockHeight": slot,
        "epoch": slot // clock.SLOTS_PER_EPOCH,
        "slotIndex": slot % clock.SLOTS_PER_EPOCH,
        "slotsInEpoch": clock.SLOTS_PER_EPOCH,
        "transactionCount": len(chain.history),
    }


def get_genesis_hash(chain: Chain, params: list) -> str:
    from harness.genesis import DEVNET_GENESIS_HASH

    return DEVNET_GENESIS_HASH


def get_identity(chain: Chain, params: list) -> dict[str, str]:
    return {"identity": str(chain.authority.pubkey())}


def get_latest_blockhash(chain: Chain, params: list) -> dict[str, Any]:
    commitment(config(params, 0))
    blockhash, last_valid, _ = chain.clock.latest_blockhash()
    return ctx(chain, {"blockhash": blockhash, "lastValidBlockHeight": last_valid})


def is_blockhash_valid(chain: Chain, params: list) -> dict[str, Any]:
    blockhash = param(params, 0, "blockhash")
    if not isinstance(blockhash, str):
        raise invalid_params("Invalid params: invalid type: expected a blockhash string")
    return ctx(chain, chain.clock.is_blockhash_valid(blockhash))


def get_fee_for_message(chain: Chain, params: list) -> dict[str, Any]:
    import base64

    raw = param(params, 0, "message")
    try:
        message = from_bytes_versioned(base64.b64decode(raw, validate=True))
    except Exception as exc:
        raise invalid_params(f"invalid base64 message: {exc}") from exc
    if not chain.clock.is_blockhash_valid(str(message.recent_blockhash)):
        return ctx(chain, None)
    return ctx(chain, LAMPORTS_PER_SIGNATURE * message.header.num_required_signatures)


def get_minimum_balance_for_rent_exemption(chain: Chain, params: list) -> int:
    size = integer(param(params, 0, "data_len"), "data_len")
    with chain.lock:
        return chain.svm.minimum_balance_for_rent_exemption(size)


def get_balance(chain: Chain, params: list) -> dict[str, Any]:
    key = pubkey(param(params, 0, "pubkey"))
    commitment(config(params, 1))
    return ctx(chain, chain.get_balance(key))


def _render(chain: Chain, account, cfg: dict[str, Any]) -> dict[str, Any] | None:
    if account is None:
        return None
    enc = cfg.get("encoding", "binary")
    if enc not in encoding.ACCOUNT_ENCODINGS or enc == "base64+zstd":
        raise invalid_params(f"Invalid params: unsupported encoding `{enc}`")
    return encoding.encode_account(account, enc, cfg.get("dataSlice"), chain.mint_decimals)


def get_account_info(chain: Chain, params: list) -> dict[str, Any]:
    key = pubkey(param(params, 0, "pubkey"))
    cfg = config(params, 1)
    commitment(cfg)
    return ctx(chain, _render(chain, chain.get_account(key), cfg))


def get_multiple_accounts(chain: Chain, params: list) -> dict[str, Any]:
    keys = param(params, 0, "pubkeys")
    if not isinstance(keys, list):
        raise invalid_params("Invalid params: invalid type: expected a list of pubkeys")
    if len(keys) > 100:
        raise invalid_params("Too many inputs provided; max 100")
    cfg = config(params, 1)
    commitment(cfg)
    accounts = [chain.get_account(pubkey(k)) for k in keys]
    return ctx(chain, [_render(chain, a, cfg) for a in accounts])


def _token_state(chain: Chain, key):
    account = chain.get_account(key)
    if account is None or not tokens.is_token_account(account.owner, bytes(account.data)):
        raise invalid_params("Invalid param: not a Token account")
    return tokens.unpack_token_account(bytes(account.data))


def get_token_account_balance(chain: Chain, params: list) -> dict[str, Any]:
    state = _token_state(chain, pubkey(param(params, 0, "pubkey")))
    decimals = chain.mint_decimals(state.mint) or 0
    return ctx(chain, tokens.ui_token_amount(state.amount, decimals))


def get_token_supply(chain: Chain, params: list) -> dict[str, Any]:
    key = pubkey(param(params, 0, "pubkey"))
    account = chain.get_account(key)
    if account is None or not tokens.is_mint(account.owner, bytes(account.data)):
        raise invalid_params("Invalid param: not a Token mint")
    mint = tokens.unpack_mint(bytes(account.data))
    return ctx(chain, tokens.ui_token_amount(mint.supply, mint.decimals))


def get_token_accounts_by_owner(chain: Chain, params: list) -> dict[str, Any]:
    owner = pubkey(param(params, 0, "owner"))
    flt = param(params, 1, "filter")
    if not isinstance(flt, dict) or not ({"mint", "programId"} & set(flt)):
        raise invalid_params("Invalid params: filter must be {mint} or {programId}")
    cfg = config(params, 2)
    mint = pubkey(flt["mint"]) if "mint" in flt else None
    program = pubkey(flt["programId"]) if "programId" in flt else None
    if program is not None and program not in tokens.TOKEN_PROGRAMS:
        raise invalid_params("Invalid param: unrecognized Token program id")
    found = [
        {"pubkey": str(key), "account": _render(chain, account, cfg)}
        for key, account, _ in chain.token_accounts(owner=owner, mint=mint)
        if program is None or account.owner == program
    ]
    return ctx(chain, found)


def get_block_height(chain: Chain, params: list) -> int:
    return chain.clock.slot()


METHODS = {
    "getHealth": get_health,
    "getVersion": get_version,
    "getSlot": get_slot,
    "getBlockHeight": get_block_height,
    "getEpochInfo": get_epoch_info,
    "getGenesisHash": get_genesis_hash,
    "getIdentity": get_identity,
    "getLatestBlockhash": get_latest_blockhash,
    "isBlockhashValid": is_blockhash_valid,
    "getFeeForMessage": get_fee_for_message,
    "getMinimumBalanceForRentExemption": get_minimum_balance_for_rent_exemption,
    "getBalance": get_balance,
    "getAccountInfo": get_account_info,
    "getMultipleAccounts": get_multiple_accounts,
    "getTokenAccountBalance": get_token_account_balance,
    "getTokenSupply": get_token_supply,
    "getTokenAccountsByOwner": get_token_accounts_by_owner,
}
