"""Devnet harness: a local Solana network, a faucet and an x402 facilitator.

Design overview
---------------
The harness stands in for Solana Devnet and a public x402 facilitator, faithfully enough
that unmodified solana-py and x402 SDK clients cannot tell the difference.

* :mod:`harness.chain` wraps ``solders.litesvm.LiteSVM`` behind one lock and adds what a
  cluster has and LiteSVM lacks: a slot clock (:mod:`harness.clock`) with per-slot
  blockhashes and the 150-slot validity window, signature checks, commitment levels,
  and a transaction history (:mod:`harness.records`).
* :mod:`harness.jsonrpc` dispatches JSON-RPC 2.0 (batches included) to the handlers in
  :mod:`harness.rpc_accounts` and :mod:`harness.rpc_tx`, which render the node's wire
  format (:mod:`harness.encoding`); :mod:`harness.rpc_http` serves it with the admin
  endpoints (faucet, state, faults) over :mod:`harness.httpbase`'s fast HTTP server.
* :mod:`harness.facilitator` is the x402 SDK's facilitator with the SVM exact scheme,
  confirming in milliseconds instead of the SDK's fixed 1 s poll.
* :mod:`harness.faults` injects latency, errors, resets, hangs, dropped and slow
  transactions, per method and deterministically under a seed.
* :mod:`harness.genesis` fixes the mints (Devnet USDC, a Token-2022 CASH stand-in at
  ``CASH_MINT``); :mod:`harness.faucet` funds addresses; :mod:`harness.state` saves and
  restores everything under ``.autopay/``.
* :mod:`harness.app` composes one process; :mod:`harness.cli` is its command line;
  :mod:`harness.testing` runs it as a subprocess for tests; :mod:`harness.bench`
  measures it.

Errors all derive from :class:`harness.errors.HarnessError`.
"""

from harness.errors import HarnessError

__all__ = ["HarnessError"]
