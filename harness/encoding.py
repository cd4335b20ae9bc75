"""Wire encodings of accounts and transactions, as a Solana node renders them."""

from __future__ import annotations

import base64
import struct
from typing import Any

import base58
from solders.account import Account
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from harness import tokens
from harness.errors import invalid_params

ACCOUNT_ENCODINGS = ("base58", "base64", "base64+zstd", "jsonParsed", "binary")
_EXT_NAMES = {7: "immutableOwner"}
SYSTEM_PROGRAM = str(tokens.SYSTEM_PROGRAM_ID)
MEMO_PROGRAM = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"


def _slice(data: bytes, data_slice: dict | None) -> bytes:
    if not data_slice:
        return data
    offset = int(data_slice.get("offset", 0))
    length = int(data_slice.get("length", len(data)))
    return data[offset : offset + length]


def _binary(data: bytes, encoding: str) -> Any:
    if encoding == "base64":
        return [base64.b64encode(data).decode(), "base64"]
    if encoding == "base58":
        return [base58.b58encode(data).decode(), "base58"]
    if encoding == "binary":
        return base58.b58encode(data).decode()
    raise invalid_params(f"Invalid params: unsupported encoding: {encoding}")


def encode_account(
    account: Account, encoding: str, data_slice: dict | None = None, decimals_of=None
) -> dict[str, Any]:
    """Render an account (``UiAccount``) in the requested encoding.

    Args:
        account: The account.
        encoding: base58, base64, binary or jsonParsed.
        data_slice: Optional {offset, length}.
        decimals_of: Callable giving a mint's decimals (needed for token accounts).
    """
    data = bytes(account.data)
    rendered: Any = None
    if encoding == "jsonParsed":
        rendered = parse_token_data(account.owner, data, decimals_of)
    if rendered is None:
        fallback = "base64" if encoding == "jsonParsed" else encoding
        rendered = _binary(_slice(data, data_slice), fallback)
    return {
        "data": rendered,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": len(data),
    }


def _extensions(data: bytes) -> list[dict] | None:
    if len(data) <= tokens.ACCOUNT_LEN + 1:
        return None
    found, offset = [], tokens.ACCOUNT_LEN + 1
    while offset + 4 <= len(data):
        ext_type, length = struct.unpack_from("<HH", data, offset)
        if ext_type == 0:
            break
        found.append({"extension": _EXT_NAMES.get(ext_type, "unparseableExtension")})
        offset += 4 + length
    return found


def parse_token_data(owner: Pubkey, data: bytes, decimals_of) -> dict | None:
    """Render mint or token-account data the way jsonParsed does, or None."""
    program = "spl-token" if owner == tokens.TOKEN_PROGRAM_ID else "spl-token-2022"
    if tokens.is_mint(owner, data):
        mint = tokens.unpack_mint(data)
        info = {
            "decimals": mint.decimals,
            "freezeAuthority": str(mint.freeze_authority) if mint.freeze_authority else None,
            "isInitialized": mint.is_initialized,
            "mintAuthority": str(mint.mint_authority) if mint.mint_authority else None,
            "supply": str(mint.supply),
        }
        parsed: dict[str, Any] = {"info": info, "type": "mint"}
    elif tokens.is_token_account(owner, data) and decimals_of is not None:
        parsed = {"info": token_account_info(data, decimals_of), "type": "account"}
    else:
        return None
    if owner == tokens.TOKEN_2022_PROGRAM_ID:
        exts = _extensions(data)
        if exts:
            parsed["info"]["extensions"] = exts
    return {"parsed": parsed, "program": program, "space": len(data)}


def token_account_info(data: bytes, decimals_of) -> dict[str, Any]:
    """The ``info`` object of a parsed token account."""
    state = tokens.unpack_token_account(data)
    decimals = decimals_of(state.mint) or 0
    info: dict[str, Any] = {
        "isNative": state.is_native is not None,
        "mint": str(state.mint),
        "owner": str(state.owner),
        "state": tokens.state_name(state.state),
        "tokenAmount": tokens.ui_token_amount(state.amount, decimals),
    }
    if state.delegate:
        info["delegate"] = str(state.delegate)
        info["delegatedAmount"] = tokens.ui_token_amount(state.delegated_amount, decimals)
    if state.close_authority:
        info["closeAuthority"] = str(state.close_authority)
    return info


def decode_wire_transaction(data: Any, encoding: str) -> tuple[bytes, VersionedTransaction]:
    """Decode a sendTransaction/simulateTransaction payload.

    Raises:
        RpcError: -32602 with the node's wording when the payload is not a transaction.
    """
    name = "solana_transaction::versioned::VersionedTransaction"
    if not isinstance(data, str):
        raise invalid_params("Invalid params: invalid type: expected a string")
    max_len = 1644 if encoding == "base64" else 1683
    if len(data) > max_len:
        raise invalid_params(
            f"{encoding} encoded {name} too large: {len(data)} bytes "
            f"(max: encoded/raw {max_len}/1232)"
        )
    try:
        raw = (
            base64.b64decode(data, validate=True)
            if encoding == "base64"
            else base58.b58decode(data)
        )
    except ValueError as exc:
        raise invalid_params(f"invalid {encoding} encoding: {exc}") from exc
    try:
        tx = VersionedTransaction.from_bytes(raw)
    except Exception as exc:  # solders raises its own error types
        raise invalid_params(f"failed to deserialize {name}: {exc}") from exc
    if not _sanitizes(tx):
        raise invalid_params(
            "invalid transaction: Transaction failed to sanitize accounts offsets correctly"
        )
    return raw, tx


def _sanitizes(tx: VersionedTransaction) -> bool:
    try:
        tx.sanitize()
    except Exception:
        return False
    return len(tx.signatures) == tx.message.header.num_required_signatures


def ui_message(tx: VersionedTransaction, parsed: bool, decimals_of) -> dict[str, Any]:
    """Render a transaction's message in json or jsonParsed form."""
    msg = tx.message
    keys = [str(k) for k in msg.account_keys]
    header = msg.header
    out: dict[str, Any] = {"recentBlockhash": str(msg.recent_blockhash)}
    if parsed:
        out["accountKeys"] = [
            {
                "pubkey": key,
                "signer": msg.is_signer(i),
                "source": "transaction",
                "writable": _writable(msg, i),
            }
            for i, key in enumerate(keys)
        ]
        out["instructions"] = [parse_instruction(ix, keys, decimals_of) for ix in msg.instructions]
    else:
        out["accountKeys"] = keys
        out["header"] = {
            "numRequiredSignatures": header.num_required_signatures,
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
        }
        out["instructions"] = [
            {
                "programIdIndex": ix.program_id_index,
                "accounts": list(bytes(ix.accounts)),
                "data": base58.b58encode(bytes(ix.data)).decode(),
                "stackHeight": None,
            }
            for ix in msg.instructions
        ]
    if hasattr(msg, "address_table_lookups"):
        out["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
            }
            for lookup in msg.address_table_lookups
        ]
    return out


def _writable(msg, index: int) -> bool:
    header = msg.header
    signed = header.num_required_signatures
    if index < signed:
        return index < signed - header.num_readonly_signed_accounts
    return index < len(msg.account_keys) - header.num_readonly_unsigned_accounts


def parse_instruction(ix, keys: list[str], decimals_of) -> dict[str, Any]:
    """Render one instruction in jsonParsed form (parsed where the harness knows how)."""
    program = keys[ix.program_id_index]
    accounts = [keys[i] for i in bytes(ix.accounts)]
    data = bytes(ix.data)
    parsed = _parse_known(program, accounts, data, decimals_of)
    if parsed is not None:
        return {**parsed, "programId": program, "stackHeight": None}
    return {
        "accounts": accounts,
        "data": base58.b58encode(data).decode(),
        "programId": program,
        "stackHeight": None,
    }


def _parse_known(program: str, accounts: list[str], data: bytes, decimals_of) -> dict | None:
    if program == MEMO_PROGRAM:
        return {"parsed": data.decode("utf-8", "replace"), "program": "spl-memo"}
    if program == SYSTEM_PROGRAM and len(data) == 12 and data[:4] == b"\x02\0\0\0":
        (lamports,) = struct.unpack_from("<Q", data, 4)
        info = {"destination": accounts[1], "lamports": lamports, "source": accounts[0]}
        return {"parsed": {"info": info, "type": "transfer"}, "program": "system"}
    token_programs = (str(tokens.TOKEN_PROGRAM_ID), str(tokens.TOKEN_2022_PROGRAM_ID))
    if program in token_programs and len(data) == 10 and data[0] == 12 and len(accounts) >= 4:
        amount, decimals = struct.unpack_from("<QB", data, 1)
        info = {
            "authority": accounts[3],
            "destination": accounts[2],
            "mint": accounts[1],
            "source": accounts[0],
            "tokenAmount": tokens.ui_token_amount(amount, decimals),
        }
        name = "spl-token" if program == token_programs[0] else "spl-token-2022"
        return {"parsed": {"info": info, "type": "transferChecked"}, "program": name}
    return None
