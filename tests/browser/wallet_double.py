"""A test wallet for the browser: registered through the Wallet Standard's events, as Phantom
registers itself, with the features Phantom exposes (``standard:connect``,
``standard:disconnect``, ``standard:events``, ``solana:signTransaction``).

Its key never enters the page: ``solana:signTransaction`` hands the raw transaction
bytes to Python (``page.expose_function``), where a solders ``Keypair`` signs the
message, exactly as a wallet signs its own slot of a transaction that may have
another fee payer. ``window.__testWallet.mode`` chooses what the next signature
request does: ``sign``, ``reject`` (as a person pressing Cancel: Phantom's error
4001) or ``hang`` (never answers; then ``window.__testWallet.disconnect()``, as a
person locking the wallet, emits the disconnect ``change`` event).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

WALLET_JS = r"""
(() => {
  const config = %(config)s;
  const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
  const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const listeners = new Set();
  const account = Object.freeze({
    address: config.address,
    publicKey: new Uint8Array(config.publicKey),
    chains: config.chains,
    features: ["solana:signTransaction"],
  });
  let accounts = [];
  const emit = () => listeners.forEach((l) => l({ accounts: accounts.slice() }));
  const wallet = {
    version: "1.0.0",
    name: config.name,
    icon: "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=",
    chains: config.chains,
    get accounts() { return accounts.slice(); },
    mode: "sign",
    signed: 0,
    features: {
      "standard:connect": { version: "1.0.0", connect: async (input) => {
        if (!(input && input.silent) || accounts.length === 0) { accounts = [account]; emit(); }
        return { accounts: accounts.slice() };
      } },
      "standard:disconnect": { version: "1.0.0",
        disconnect: async () => { accounts = []; emit(); } },
      "standard:events": { version: "1.0.0", on: (event, listener) => {
        if (event !== "change") { return () => {}; }
        listeners.add(listener);
        return () => listeners.delete(listener);
      } },
      "solana:signTransaction": { version: "1.0.0", supportedTransactionVersions: ["legacy", 0],
        signTransaction: async (...inputs) => {
          const out = [];
          for (const input of inputs) {
            if (!accounts.includes(input.account)) { throw new Error("account not connected"); }
            if (wallet.mode === "reject") {
              const error = new Error("User rejected the request."); error.code = 4001; throw error;
            }
            if (wallet.mode === "hang") { await new Promise(() => {}); }
            const signed = await window.__testWalletSign(b64(input.transaction), input.chain);
            wallet.signed += 1;
            out.push({ signedTransaction: unb64(signed) });
          }
          return out;
        } },
    },
    disconnect() { accounts = []; emit(); },
  };
  window.__testWallet = wallet;
  const callback = ({ register }) => register(wallet);
  window.addEventListener("wallet-standard:app-ready", (event) => callback(event.detail));
  window.dispatchEvent(new CustomEvent("wallet-standard:register-wallet", { detail: callback }));
})();
"""


@dataclass
class TestWallet:
    """The keypair behind the page's test wallet, and what it was asked to sign."""

    __test__ = False  # not a test class

    keypair: Keypair = field(default_factory=Keypair)
    name: str = "Test Phantom"
    chains: tuple[str, ...] = ("solana:mainnet", "solana:devnet", "solana:testnet")
    requests: list[tuple[str, VersionedTransaction]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.keypair.pubkey())

    def install(self, page: object) -> None:
        """Register the wallet on every document ``page`` loads (before its scripts run)."""
        page.expose_function("__testWalletSign", self.sign)  # type: ignore[attr-defined]
        config = {
            "name": self.name,
            "address": self.address,
            "publicKey": list(bytes(self.keypair.pubkey())),
            "chains": list(self.chains),
        }
        page.add_init_script(WALLET_JS % {"config": json.dumps(config)})  # type: ignore[attr-defined]

    def sign(self, transaction_b64: str, chain: str) -> str:
        """Sign the wallet's slot of the transaction (other signatures are left as they are)."""
        tx = VersionedTransaction.from_bytes(base64.b64decode(transaction_b64))
        self.requests.append((chain, tx))
        message = tx.message
        signers = list(message.account_keys)[: message.header.num_required_signatures]
        slot = signers.index(self.keypair.pubkey())
        signatures = list(tx.signatures)
        signatures[slot] = self.keypair.sign_message(to_bytes_versioned(message))
        return base64.b64encode(bytes(VersionedTransaction.populate(message, signatures))).decode()
