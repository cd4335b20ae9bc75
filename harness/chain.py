"""The local network: LiteSVM behind one lock, plus what a cluster adds around it.

LiteSVM executes transactions; the chain adds what a real cluster has and LiteSVM lacks:
a slot clock with per-slot blockhashes and the 150-slot validity window (LiteSVM's own
blockhash check is off), signature verification with the node's error distinctions,
commitment levels, a transaction history with balances and logs, and an index of the
accounts it has seen (LiteSVM cannot enumerate accounts). Program accounts are cached,
because copying a program's data for every balance snapshot is expensive.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from harness import genesis, tokens
from harness.clock import SlotClock
from harness.errors import (
    SEND_TRANSACTION_PREFLIGHT_FAILURE,
    TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
    RpcError,
)
from harness.records import TxRecord, error_json, error_text

MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
STATUS_CACHE_SLOTS = 300
LAMPORTS_PER_SIGNATURE = 5000


class Chain:
    """A Solana network in one process.

    Args:
        slot_ms: Milliseconds per slot (0: one slot per RPC call).
        finalize_slots: Slots after landing until a transaction is finalized.
    """

    def __init__(self, slot_ms: int = 400, finalize_slots: int = 32) -> None:
        self.lock = threading.RLock()
        self.svm = LiteSVM().with_blockhash_check(False).with_sigverify(False)
        self.finalize_slots = finalize_slots
        self.clock = SlotClock(slot_ms, 0, os.urandom(16), time.time())
        self.authority = genesis.authority_keypair()
        self.history: dict[str, TxRecord] = {}
        self.by_address: dict[str, list[str]] = {}
        self.known: set[str] = set()
        self.mutations = 0
        self._programs: dict[Pubkey, int] = {}
        self._decimals: dict[Pubkey, int] = {}

    # ----------------------------------------------------------------- genesis
    def create_genesis(self, fee_payer: Pubkey) -> None:
        """Create the mints and fund the authority and the facilitator's fee payer."""
        with self.lock:
            rent = self.svm.minimum_balance_for_rent_exemption(tokens.MINT_LEN)
            for spec in genesis.MINTS:
                account = genesis.mint_account(spec, self.authority.pubkey(), rent)
                self.set_account(spec.address, account)
            self.set_lamports(self.authority.pubkey(), genesis.AUTHORITY_LAMPORTS)
            self.set_lamports(fee_payer, genesis.FEE_PAYER_LAMPORTS)

    def set_account(self, pubkey: Pubkey, account: Account) -> None:
        """Write an account directly and index it."""
        with self.lock:
            self.svm.set_account(pubkey, account)
            self.known.add(str(pubkey))
            self.mutations += 1

    def set_lamports(self, pubkey: Pubkey, lamports: int) -> None:
        """Set a system account's balance directly (genesis and restore only)."""
        self.set_account(pubkey, Account(lamports, b"", tokens.SYSTEM_PROGRAM_ID, False, 0))

    # ----------------------------------------------------------------- reads
    def get_account(self, pubkey: Pubkey) -> Account | None:
        """Return an account, or None when it does not exist (zero lamports)."""
        with self.lock:
            account = self.svm.get_account(pubkey)
        if account is None or (account.lamports == 0 and not account.data):
            return None
        return account

    def get_balance(self, pubkey: Pubkey) -> int:
        """Return an account's lamports (0 when absent)."""
        with self.lock:
            return self.svm.get_balance(pubkey) or 0

    def mint_decimals(self, mint: Pubkey) -> int | None:
        """Return a mint's decimals (cached; decimals never change)."""
        cached = self._decimals.get(mint)
        if cached is not None:
            return cached
        account = self.get_account(mint)
        if account is None or not tokens.is_mint(account.owner, bytes(account.data)):
            return None
        decimals = tokens.unpack_mint(bytes(account.data)).decimals
        self._decimals[mint] = decimals
        return decimals

    def token_accounts(self, owner: Pubkey | None = None, mint: Pubkey | None = None) -> list:
        """Return (pubkey, account, state) for known token accounts, filtered."""
        found = []
        with self.lock:
            keys = sorted(self.known)
        for key in keys:
            pubkey = Pubkey.from_string(key)
            account = self.get_account(pubkey)
            if account is None or not tokens.is_token_account(account.owner, account.data):
                continue
            state = tokens.unpack_token_account(bytes(account.data))
            if (owner is None or state.owner == owner) and (mint is None or state.mint == mint):
                found.append((pubkey, account, state))
        return found

    # ----------------------------------------------------------------- snapshots
    def _lamports(self, key: Pubkey) -> int:
        if key in self._programs:
            return self._programs[key]
        account = self.svm.get_account(key)
        if account is None:
            return 0
        if account.executable:
            self._programs[key] = account.lamports
        return account.lamports

    def _token_balances(self, keys: list[Pubkey]) -> list[dict]:
        balances = []
        for index, key in enumerate(keys):
            if key in self._programs:
                continue
            account = self.svm.get_account(key)
            if account is None or not tokens.is_token_account(account.owner, account.data):
                continue
            state = tokens.unpack_token_account(bytes(account.data))
            decimals = self.mint_decimals(state.mint) or 0
            balances.append(
                {
                    "accountIndex": index,
                    "mint": str(state.mint),
                    "owner": str(state.owner),
                    "programId": str(account.owner),
                    "uiTokenAmount": tokens.ui_token_amount(state.amount, decimals),
                }
            )
        return balances

    def _snapshot(self, keys: list[Pubkey]) -> tuple[list[int], list[dict]]:
        return [self._lamports(k) for k in keys], self._token_balances(keys)

    # ----------------------------------------------------------------- checks
    def verify_signatures(self, tx: VersionedTransaction) -> bool:
        """Check every signature of ``tx``."""
        return all(tx.verify_with_results())

    def preflight_error(self, err: Any, logs: list[str], units: int) -> RpcError:
        """Build the -32002 error a node answers when preflight simulation fails."""
        err_json = error_json(err) if not isinstance(err, (str, dict)) else err
        data = {
            "err": err_json,
            "logs": logs,
            "accounts": None,
            "unitsConsumed": units,
            "returnData": None,
            "innerInstructions": None,
        }
        message = f"Transaction simulation failed: {error_text(err_json)}"
        return RpcError(SEND_TRANSACTION_PREFLIGHT_FAILURE, message, data)

    def precheck(self, tx: VersionedTransaction, signature: str) -> str | None:
        """Return the node-level error name that stops ``tx``, or None."""
        if signature in self.history:
            return "AlreadyProcessed"
        if not self.clock.is_blockhash_valid(str(tx.message.recent_blockhash)):
            return "BlockhashNotFound"
        return None

    # ----------------------------------------------------------------- sending
    def send(
        self,
        tx: VersionedTransaction,
        skip_preflight: bool,
        drop: bool = False,
        confirm_delay: int = 0,
    ) -> str:
        """Submit a transaction as sendTransaction does; return its signature.

        Args:
            tx: The transaction.
            skip_preflight: Skip signature check and simulation, as the node does.
            drop: Accept the transaction but never land it (fault injection).
            confirm_delay: Extra slots before it counts as confirmed (fault injection).

        Raises:
            RpcError: -32003 on a bad signature or -32002 when preflight fails.
        """
        signature = str(tx.signatures[0])
        valid_sigs = self.verify_signatures(tx)
        if not skip_preflight and not valid_sigs:
            raise RpcError(
                TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
                "Transaction signature verification failure",
            )
        with self.lock:
            stop = self.precheck(tx, signature)
            if not skip_preflight:
                self._preflight(tx, stop)
            if stop or not valid_sigs or drop:
                return signature  # accepted by the RPC node, never lands
            self._execute(tx, signature, confirm_delay)
        return signature

    def _preflight(self, tx: VersionedTransaction, stop: str | None) -> None:
        if stop:
            raise self.preflight_error(stop, [], 0)
        result = self.svm.simulate_transaction(tx)
        err = getattr(result, "err", None)
        if err is not None:
            meta = result.meta()
            raise self.preflight_error(err(), meta.logs(), meta.compute_units_consumed())

    def _execute(
        self, tx: VersionedTransaction, signature: str, confirm_delay: int = 0
    ) -> TxRecord | None:
        keys = list(tx.message.account_keys)
        pre_balances, pre_tokens = self._snapshot(keys)
        result = self.svm.send_transaction(tx)
        post_balances, post_tokens = self._snapshot(keys)
        failed = isinstance(result, FailedTransactionMetadata)
        if failed and post_balances[0] == pre_balances[0]:
            return None  # rejected before execution (no fee charged): never lands
        meta = result.meta() if isinstance(result, FailedTransactionMetadata) else result
        slot = self.clock.slot()
        record = TxRecord(
            signature=signature,
            slot=slot,
            block_time=self.clock.block_time(slot),
            tx_b64=base64.b64encode(bytes(tx)).decode(),
            err=error_json(result.err()) if isinstance(result, FailedTransactionMetadata) else None,
            fee=LAMPORTS_PER_SIGNATURE * len(tx.signatures),
            pre_balances=pre_balances,
            post_balances=post_balances,
            pre_token_balances=pre_tokens,
            post_token_balances=post_tokens,
            logs=list(meta.logs()),
            compute_units=meta.compute_units_consumed(),
            account_keys=[str(k) for k in keys],
            confirm_delay=confirm_delay,
            memo=memo_of(tx),
        )
        self._remember(record)
        return record

    def _remember(self, record: TxRecord) -> None:
        self.history[record.signature] = record
        self.mutations += 1
        for key in record.account_keys:
            self.known.add(key)
            self.by_address.setdefault(key, []).append(record.signature)

    def submit(self, instructions: list, signers: list[Keypair]) -> TxRecord:
        """Build, sign and land a transaction from the harness's own keys.

        Raises:
            RpcError: When the transaction fails.
        """
        # A nonce memo: two identical faucet requests in one slot are two transactions,
        # not one refused as "already processed".
        nonce = Instruction(MEMO_PROGRAM_ID, os.urandom(8).hex().encode(), [])
        with self.lock:
            blockhash, _, _ = self.clock.latest_blockhash()
            message = Message.new_with_blockhash(
                [*instructions, nonce], signers[0].pubkey(), Hash.from_string(blockhash)
            )
            tx = VersionedTransaction(message, signers)
            self._preflight(tx, None)
            record = self._execute(tx, str(tx.signatures[0]))
        if record is None or record.err is not None:
            raise self.preflight_error(record.err if record else "AccountNotFound", [], 0)
        return record

    def airdrop(self, to: Pubkey, lamports: int) -> str:
        """Transfer lamports from the faucet (the authority) and return the signature."""
        params = TransferParams(
            from_pubkey=self.authority.pubkey(), to_pubkey=to, lamports=lamports
        )
        return self.submit([transfer(params)], [self.authority]).signature

    # ----------------------------------------------------------------- status
    def status(self, signature: str, search_history: bool) -> dict[str, Any] | None:
        """Return the getSignatureStatuses entry for one signature."""
        record = self.history.get(signature)
        if record is None:
            return None
        slot = self.clock.slot()
        if not search_history and slot - record.slot > STATUS_CACHE_SLOTS:
            return None
        level = record.status_at(slot, self.finalize_slots)
        return {
            "slot": record.slot,
            "confirmations": None if level == "finalized" else max(0, slot - record.slot),
            "err": record.err,
            "status": {"Ok": None} if record.err is None else {"Err": record.err},
            "confirmationStatus": level,
        }

    def record_at(self, signature: str, commitment: str) -> TxRecord | None:
        """Return a landed transaction visible at ``commitment`` (confirmed/finalized)."""
        record = self.history.get(signature)
        if record is None:
            return None
        level = record.status_at(self.clock.slot(), self.finalize_slots)
        if commitment == "finalized" and level != "finalized":
            return None
        if commitment == "confirmed" and level == "processed":
            return None
        return record


def memo_of(tx: VersionedTransaction) -> str | None:
    """Return the memo field getSignaturesForAddress shows (``[len] text``), if any."""
    keys = tx.message.account_keys
    memos = []
    for ix in tx.message.instructions:
        if keys[ix.program_id_index] == MEMO_PROGRAM_ID:
            data = bytes(ix.data)
            memos.append(f"[{len(data)}] {data.decode('utf-8', 'replace')}")
    return "; ".join(memos) if memos else None
