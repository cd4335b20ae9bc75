"""Saving and restoring the network under the state directory.

``chain.json`` holds the slot, the blockhash nonce and issued blockhashes, every
non-program account the network has seen, and the transaction history. It is written
atomically (temporary file, then rename). ``facilitator-keypair.json`` (the
solana-keygen format: a JSON list of 64 bytes) holds the facilitator's fee payer; it is an
identity, not state, so ``--fresh`` keeps it.

A transaction record never changes once it has landed, so a :class:`HistoryCache`
keeps each record's JSON text from one save to the next: a save serializes only the
records that are new since the last one, and none while it holds the chain's lock
(the history grows with every payment; re-encoding all of it every couple of seconds,
under the lock every RPC call takes, stalled the network as it grew).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from harness.chain import Chain
from harness.errors import StateError
from harness.records import TxRecord

CHAIN_FILE = "chain.json"
KEYPAIR_FILE = "facilitator-keypair.json"
FORMAT_VERSION = 1
_NOT_SAVED_OWNERS = {
    "Sysvar1111111111111111111111111111111111111",
    "NativeLoader1111111111111111111111111111111",
}


def load_or_create_keypair(state_dir: Path) -> Keypair:
    """Return the facilitator's fee-payer keypair, creating it on first use."""
    path = state_dir / KEYPAIR_FILE
    if path.exists():
        try:
            return Keypair.from_bytes(bytes(json.loads(path.read_text())))
        except (ValueError, TypeError) as exc:
            raise StateError(f"unreadable keypair file {path}: {exc}") from exc
    keypair = Keypair()
    state_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(list(bytes(keypair))))
    os.chmod(path, 0o600)
    return keypair


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _account_json(account: Account) -> dict:
    return {
        "lamports": account.lamports,
        "owner": str(account.owner),
        "executable": account.executable,
        "rent_epoch": account.rent_epoch,
        "data": base64.b64encode(bytes(account.data)).decode(),
    }


class HistoryCache:
    """The JSON text of each transaction record already saved, by signature."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def text(self, record: TxRecord) -> str:
        """The record's JSON text, encoded on first use only."""
        found = self._texts.get(record.signature)
        if found is None:
            found = self._texts[record.signature] = json.dumps(record.to_json())
        return found


def _capture(chain: Chain) -> tuple[dict, list[TxRecord]]:
    """The state besides the history, and the history's records, under the chain's lock."""
    with chain.lock:
        accounts = {}
        for key in sorted(chain.known):
            account = chain.svm.get_account(Pubkey.from_string(key))
            if account is None or account.executable or str(account.owner) in _NOT_SAVED_OWNERS:
                continue
            accounts[key] = _account_json(account)
        head = {
            "version": FORMAT_VERSION,
            "slot": chain.clock.slot(),
            "nonce": chain.clock.nonce.hex(),
            "genesis_time": chain.clock.genesis_time,
            "issued": chain.clock.issued(),
            "accounts": accounts,
        }
        return head, list(chain.history.values())


def snapshot(chain: Chain) -> dict:
    """Capture the chain's state as JSON-ready data."""
    head, records = _capture(chain)
    return {**head, "history": [record.to_json() for record in records]}


def save(chain: Chain, state_dir: Path, cache: HistoryCache | None = None) -> None:
    """Write the chain's state to ``state_dir/chain.json`` (the same JSON as
    :func:`snapshot`), reusing the records ``cache`` encoded at earlier saves."""
    head, records = _capture(chain)
    cache = cache or HistoryCache()
    history = ",".join(cache.text(record) for record in records)
    text = json.dumps(head)[:-1] + f', "history": [{history}]}}'
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(state_dir / CHAIN_FILE, text)
    except OSError as exc:
        raise StateError(f"cannot save state to {state_dir}: {exc}") from exc


def restore(chain: Chain, state_dir: Path) -> bool:
    """Load saved state into a freshly built chain; False when there is none."""
    path = state_dir / CHAIN_FILE
    if not path.exists():
        return False
    try:
        data = json.loads(path.read_text())
        if data.get("version") != FORMAT_VERSION:
            raise StateError(f"{path}: unsupported state format {data.get('version')}")
        _apply(chain, data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(f"cannot restore state from {path}: {exc}") from exc
    return True


def _apply(chain: Chain, data: dict) -> None:
    with chain.lock:
        chain.clock.nonce = bytes.fromhex(data["nonce"])
        chain.clock.genesis_time = float(data["genesis_time"])
        chain.clock.advance(int(data["slot"]) + 1 - chain.clock.slot())
        chain.clock.restore_issued({k: int(v) for k, v in data["issued"].items()})
        for key, acc in data["accounts"].items():
            account = Account(
                acc["lamports"],
                base64.b64decode(acc["data"]),
                Pubkey.from_string(acc["owner"]),
                acc["executable"],
                acc["rent_epoch"],
            )
            chain.set_account(Pubkey.from_string(key), account)
        for item in data["history"]:
            record = TxRecord.from_json(item)
            chain.history[record.signature] = record
            for key in record.account_keys:
                chain.known.add(key)
                chain.by_address.setdefault(key, []).append(record.signature)
