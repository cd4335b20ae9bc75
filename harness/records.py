"""Transaction records: what the network remembers about a landed transaction.

A record carries everything getTransaction, getSignatureStatuses and
getSignaturesForAddress answer with, in JSON-ready form, so it can be saved and
restored unchanged.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, fields
from typing import Any

from solders.rpc.responses import RpcSimulateTransactionResult
from solders.transaction import VersionedTransaction


def error_json(err: Any) -> Any:
    """Serialise a solders ``TransactionError`` as a Solana node does.

    solders' own ``to_json`` on the error types is wrong (see the project notes), so the
    error goes through ``RpcSimulateTransactionResult``, whose serialiser is right.
    """
    if err is None:
        return None
    result = RpcSimulateTransactionResult(
        err=err, logs=None, accounts=None, units_consumed=None, return_data=None
    )
    return json.loads(result.to_json())["err"]


_ERROR_TEXT = {
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "BlockhashNotFound": "Blockhash not found",
    "AlreadyProcessed": "This transaction has already been processed",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InsufficientFundsForRent": (
        "Transaction results in an account with insufficient funds for rent"
    ),
}


def error_text(err_json: Any) -> str:
    """Render a transaction error the way a node's ``Display`` implementation does."""
    if isinstance(err_json, str):
        return _ERROR_TEXT.get(err_json, err_json)
    if isinstance(err_json, dict) and "InstructionError" in err_json:
        index, inner = err_json["InstructionError"]
        if isinstance(inner, dict) and "Custom" in inner:
            return (
                f"Error processing Instruction {index}: custom program error: {inner['Custom']:#x}"
            )
        return f"Error processing Instruction {index}: {inner}"
    if isinstance(err_json, dict) and "InsufficientFundsForRent" in err_json:
        return _ERROR_TEXT["InsufficientFundsForRent"]
    return json.dumps(err_json)


@dataclass
class TxRecord:
    """One transaction that landed (successfully or with an execution error)."""

    signature: str
    slot: int
    block_time: int
    tx_b64: str
    err: Any
    fee: int
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[dict]
    post_token_balances: list[dict]
    logs: list[str]
    compute_units: int
    account_keys: list[str]
    confirm_delay: int = 0
    memo: str | None = None
    extra: dict = field(default_factory=dict)

    def transaction(self) -> VersionedTransaction:
        """Decode the stored transaction."""
        return VersionedTransaction.from_bytes(base64.b64decode(self.tx_b64))

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict (for saving; its lists and dicts are the
        record's own, not copies: encode it, do not change it)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TxRecord:
        """Rebuild a record from :meth:`to_json` output."""
        return cls(**data)

    def status_at(self, slot: int, finalize_slots: int) -> str:
        """Return processed, confirmed or finalized as seen at ``slot``."""
        age = slot - self.slot - self.confirm_delay
        if age >= finalize_slots:
            return "finalized"
        if age >= 1:
            return "confirmed"
        return "processed"

    def meta_json(self) -> dict[str, Any]:
        """Build the ``meta`` object of getTransaction (json encoding)."""
        return {
            "err": self.err,
            "status": {"Ok": None} if self.err is None else {"Err": self.err},
            "fee": self.fee,
            "preBalances": self.pre_balances,
            "postBalances": self.post_balances,
            "innerInstructions": [],
            "logMessages": self.logs,
            "preTokenBalances": self.pre_token_balances,
            "postTokenBalances": self.post_token_balances,
            "rewards": [],
            "loadedAddresses": {"writable": [], "readonly": []},
            "computeUnitsConsumed": self.compute_units,
        }
