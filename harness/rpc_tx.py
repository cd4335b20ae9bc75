"""JSON-RPC handlers for transactions: airdrop, send, simulate, statuses, history."""

from __future__ import annotations

import base64
from typing import Any

from solders.transaction_metadata import FailedTransactionMetadata

from harness import encoding, genesis
from harness.chain import Chain
from harness.errors import (
    INVALID_PARAMS,
    TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
    RpcError,
    invalid_params,
)
from harness.records import TxRecord, error_json
from harness.rpc_accounts import ctx
from harness.rpc_params import commitment, config, integer, param, pubkey, signature

MAX_AIRDROP_LAMPORTS = 1_000_000 * genesis.LAMPORTS_PER_SOL
UNSUPPORTED_VERSION = -32015


def request_airdrop(chain: Chain, params: list) -> str:
    to = pubkey(param(params, 0, "pubkey"))
    lamports = integer(param(params, 1, "lamports"), "lamports")
    if lamports == 0 or lamports > MAX_AIRDROP_LAMPORTS:
        raise RpcError(
            -32600, "airdrop request failed. This can happen when the rate limit is reached."
        )
    return chain.airdrop(to, lamports)


def send_transaction(chain: Chain, params: list, drop: bool = False, delay: int = 0) -> str:
    data = param(params, 0, "transaction")
    cfg = config(params, 1)
    enc = cfg.get("encoding", "base58")
    if enc not in ("base58", "base64"):
        raise invalid_params(f"unsupported encoding: {enc}. Supported encodings: base58, base64")
    if "preflightCommitment" in cfg:
        commitment({"commitment": cfg["preflightCommitment"]})
    _, tx = encoding.decode_wire_transaction(data, enc)
    return chain.send(tx, bool(cfg.get("skipPreflight", False)), drop, delay)


def simulate_transaction(chain: Chain, params: list) -> dict[str, Any]:
    data = param(params, 0, "transaction")
    cfg = config(params, 1)
    enc = cfg.get("encoding", "base58")
    if enc not in ("base58", "base64"):
        raise invalid_params(f"unsupported encoding: {enc}. Supported encodings: base58, base64")
    sig_verify = bool(cfg.get("sigVerify", False))
    replace = bool(cfg.get("replaceRecentBlockhash", False))
    if sig_verify and replace:
        raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
    _, tx = encoding.decode_wire_transaction(data, enc)
    if sig_verify and not chain.verify_signatures(tx):
        raise RpcError(
            TRANSACTION_SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
        )
    return ctx(chain, _simulate(chain, tx, replace, cfg.get("accounts")))


def _simulate(chain: Chain, tx, replace: bool, accounts_cfg: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "err": None,
        "logs": [],
        "accounts": None,
        "unitsConsumed": 0,
        "returnData": None,
        "innerInstructions": None,
        "replacementBlockhash": None,
    }
    with chain.lock:
        stop = chain.precheck(tx, str(tx.signatures[0]))
        if replace:
            blockhash, last_valid, _ = chain.clock.latest_blockhash()
            value["replacementBlockhash"] = {
                "blockhash": blockhash,
                "lastValidBlockHeight": last_valid,
            }
            stop = "AlreadyProcessed" if stop == "AlreadyProcessed" else None
        if stop:
            value["err"] = stop
            return value
        result = chain.svm.simulate_transaction(tx)
    meta = result.meta()
    value["err"] = (
        error_json(result.err()) if isinstance(result, FailedTransactionMetadata) else None
    )
    value["logs"] = list(meta.logs())
    value["unitsConsumed"] = meta.compute_units_consumed()
    if isinstance(accounts_cfg, dict):
        post = {} if isinstance(result, FailedTransactionMetadata) else dict(result.post_accounts())
        value["accounts"] = _sim_accounts(chain, accounts_cfg, post)
    return value


def _sim_accounts(chain: Chain, cfg: dict[str, Any], post: dict) -> list:
    addresses = cfg.get("addresses") or []
    if not isinstance(addresses, list):
        raise invalid_params("Invalid params: accounts.addresses must be a list")
    enc = cfg.get("encoding", "base64")
    rendered = []
    for text in addresses:
        key = pubkey(text)
        account = post.get(key) or chain.get_account(key)
        rendered.append(
            None
            if account is None
            else encoding.encode_account(account, enc, None, chain.mint_decimals)
        )
    return rendered


def get_signature_statuses(chain: Chain, params: list) -> dict[str, Any]:
    sigs = param(params, 0, "signatures")
    if not isinstance(sigs, list):
        raise invalid_params("Invalid params: invalid type: expected a list of signatures")
    if len(sigs) > 256:
        raise invalid_params("Too many inputs provided; max 256")
    search = bool(config(params, 1).get("searchTransactionHistory", False))
    return ctx(chain, [chain.status(signature(s), search) for s in sigs])


def get_transaction(chain: Chain, params: list) -> dict[str, Any] | None:
    sig = signature(param(params, 0, "signature"))
    cfg = config(params, 1)
    if isinstance(params[1] if len(params) > 1 else None, str):
        cfg = {"encoding": params[1]}
    level = commitment(cfg)
    if level == "processed":
        raise invalid_params("Method does not support commitment below `confirmed`")
    enc = cfg.get("encoding", "json")
    if enc not in ("json", "jsonParsed", "base64", "base58"):
        raise invalid_params(f"Invalid params: unknown variant `{enc}`")
    record = chain.record_at(sig, level)
    if record is None:
        return None
    return render_transaction(chain, record, enc, cfg.get("maxSupportedTransactionVersion"))


def render_transaction(chain: Chain, record: TxRecord, enc: str, max_version: Any) -> dict:
    """Render a landed transaction as getTransaction returns it (binary encodings from the
    stored bytes, without decoding the transaction)."""
    raw = base64.b64decode(record.tx_b64)
    is_v0 = _is_versioned(raw)
    if is_v0 and max_version is None:
        raise RpcError(
            UNSUPPORTED_VERSION,
            "Transaction version (0) is not supported by the requesting client. Please try the "
            "request again with the following configuration parameter: "
            '"maxSupportedTransactionVersion": 0',
        )
    rendered: Any
    if enc == "base64":
        rendered = [record.tx_b64, "base64"]  # stored as base64 of the wire bytes
    elif enc == "base58":
        rendered = encoding._binary(raw, enc)
    else:
        tx = record.transaction()
        rendered = {
            "signatures": [str(s) for s in tx.signatures],
            "message": encoding.ui_message(tx, enc == "jsonParsed", chain.mint_decimals),
        }
    out = {
        "slot": record.slot,
        "blockTime": record.block_time,
        "transaction": rendered,
        "meta": record.meta_json(),
    }
    if max_version is not None:
        out["version"] = 0 if is_v0 else "legacy"
    return out


def _is_versioned(raw: bytes) -> bool:
    """A versioned (v0) transaction: its message, after the signatures (a compact-u16
    count, 64 bytes each), starts with a byte whose top bit is set."""
    count, at = 0, 0
    for shift in (0, 7, 14):
        byte = raw[at]
        count |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            break
    return bool(raw[at + 64 * count] & 0x80)


def get_signatures_for_address(chain: Chain, params: list) -> list[dict[str, Any]]:
    address = str(pubkey(param(params, 0, "address")))
    cfg = config(params, 1)
    level = commitment(cfg)
    if level == "processed":
        raise invalid_params("Method does not support commitment below `confirmed`")
    limit = integer(cfg.get("limit") or 1000, "limit")
    if limit < 1 or limit > 1000:
        raise RpcError(INVALID_PARAMS, "Invalid limit; max 1000")
    before, until = cfg.get("before"), cfg.get("until")
    out = []
    started = before is None
    for sig in reversed(chain.by_address.get(address, [])):
        if not started:
            started = sig == before
            continue
        if sig == until:
            break
        record = chain.record_at(sig, level)
        if record is None:
            continue
        out.append(_signature_info(chain, record))
        if len(out) >= limit:
            break
    return out


def _signature_info(chain: Chain, record: TxRecord) -> dict[str, Any]:
    return {
        "signature": record.signature,
        "slot": record.slot,
        "err": record.err,
        "memo": record.memo,
        "blockTime": record.block_time,
        "confirmationStatus": record.status_at(chain.clock.slot(), chain.finalize_slots),
    }


def get_recent_prioritization_fees(chain: Chain, params: list) -> list:
    return []


def get_transaction_count(chain: Chain, params: list) -> int:
    return len(chain.history)


def get_block_time(chain: Chain, params: list) -> int:
    slot = integer(param(params, 0, "slot"), "slot")
    if slot > chain.clock.slot():
        raise RpcError(-32004, f"Block not available for slot {slot}")
    return chain.clock.block_time(slot)


METHODS = {
    "requestAirdrop": request_airdrop,
    "sendTransaction": send_transaction,
    "simulateTransaction": simulate_transaction,
    "getSignatureStatuses": get_signature_statuses,
    "getTransaction": get_transaction,
    "getSignaturesForAddress": get_signatures_for_address,
    "getRecentPrioritizationFees": get_recent_prioritization_fees,
    "getTransactionCount": get_transaction_count,
    "getBlockTime": get_block_time,
}
