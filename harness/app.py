"""The harness process: the network, its RPC and admin endpoints, and the facilitator.

One process runs two ``ThreadingHTTPServer`` s (RPC on ``rpc_port``, facilitator on
``facilitator_port``) over one :class:`~harness.chain.Chain`. State is saved every couple
of seconds when it changed, and on shutdown.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import faucet, genesis, state
from harness.chain import Chain
from harness.facilitator import build_facilitator
from harness.faults import FaultInjector
from harness.httpbase import Server
from harness.jsonrpc import Dispatcher

log = logging.getLogger(__name__)
SAVE_INTERVAL_S = 2.0
MIN_FEE_PAYER_LAMPORTS = 10 * genesis.LAMPORTS_PER_SOL


@dataclass(frozen=True)
class Options:
    """How to run the harness (the ``serve`` command's options)."""

    host: str = "127.0.0.1"
    rpc_port: int = 8899
    facilitator_port: int = 8403
    slot_ms: int = 400
    finalize_slots: int = 32
    state_dir: Path = Path(".autopay/harness-state")
    fresh: bool = False
    facilitator_rpc_url: str | None = None
    faults: tuple[str, ...] = ()


class HarnessApp:
    """The running harness: build with options, then ``start()`` and ``stop()``."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.faults = FaultInjector()
        self.chain = Chain(options.slot_ms, options.finalize_slots)
        self.fee_payer = state.load_or_create_keypair(options.state_dir)
        self.stopped = threading.Event()
        self._saved_mutations = -1
        self._history = state.HistoryCache()
        self._threads: list[threading.Thread] = []
        self.rpc_server: Server | None = None
        self.facilitator_server: Server | None = None
        self.facilitator: Any = None
        self.dispatcher = Dispatcher(self.chain, self.faults)
        for spec in options.faults:
            self.faults.set(json.loads(spec))

    def _init_chain(self) -> None:
        chain_file = self.options.state_dir / state.CHAIN_FILE
        if self.options.fresh and chain_file.exists():
            chain_file.unlink()
        if not state.restore(self.chain, self.options.state_dir):
            self.chain.create_genesis(self.fee_payer.pubkey())
        if self.chain.get_balance(self.fee_payer.pubkey()) < MIN_FEE_PAYER_LAMPORTS:
            self.chain.airdrop(self.fee_payer.pubkey(), genesis.FEE_PAYER_LAMPORTS)

    def start(self) -> None:
        """Build or restore the chain and start both servers."""
        from harness.facilitator import FacilitatorHandler
        from harness.rpc_http import RpcHandler  # imported here: it imports this module

        self._init_chain()
        opts = self.options
        self.rpc_server = Server((opts.host, opts.rpc_port), RpcHandler, self)
        rpc_url = opts.facilitator_rpc_url or self.rpc_url
        poll_s = min(0.05, max(0.002, opts.slot_ms / 1000.0 / 8))
        self.facilitator = build_facilitator(self.fee_payer, rpc_url, poll_s)
        self.facilitator_server = Server(
            (opts.host, opts.facilitator_port), FacilitatorHandler, self
        )
        for target in (
            self.rpc_server.serve_forever,
            self.facilitator_server.serve_forever,
            self._save_loop,
        ):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def rpc_url(self) -> str:
        """The RPC server's URL."""
        assert self.rpc_server is not None
        return _url(self.rpc_server.server_address)

    @property
    def facilitator_url(self) -> str:
        """The facilitator's URL."""
        assert self.facilitator_server is not None
        return _url(self.facilitator_server.server_address)

    def ready_info(self) -> dict[str, Any]:
        """The JSON object printed after ``HARNESS READY``."""
        return {
            "rpc_url": self.rpc_url,
            "facilitator_url": self.facilitator_url,
            "fee_payer": str(self.fee_payer.pubkey()),
            "usdc_mint": genesis.USDC_MINT,
            "cash_mint": genesis.CASH_MINT,
            "cash_token_program": str(genesis.mint_spec("cash").program),
            "pid": os.getpid(),
        }

    def save(self) -> None:
        """Save state if it changed since the last save."""
        mutations = self.chain.mutations
        if mutations != self._saved_mutations:
            state.save(self.chain, self.options.state_dir, self._history)
            self._saved_mutations = mutations

    def _save_loop(self) -> None:
        while not self.stopped.wait(SAVE_INTERVAL_S):
            try:
                self.save()
            except Exception:
                log.exception("periodic save failed")

    def stop(self) -> None:
        """Stop both servers and save state."""
        self.stopped.set()
        for server in (self.rpc_server, self.facilitator_server):
            if server is not None:
                server.shutdown()
                server.server_close()
        state.save(self.chain, self.options.state_dir, self._history)

    def fund(self, request: Any) -> dict:
        """Run the faucet for a POST /_harness/fund body."""
        if not isinstance(request, dict):
            raise faucet.FundError("body must be a JSON object")
        return faucet.fund(
            self.chain,
            request.get("address"),
            request.get("sol", 0),
            request.get("usdc", 0),
            request.get("cash", 0),
        )

    def describe(self) -> dict[str, Any]:
        """The GET /_harness/state answer."""
        slot = self.chain.clock.slot()
        mints = {}
        for spec in genesis.MINTS:
            account = self.chain.get_account(spec.address)
            supply = 0
            if account is not None:
                from harness.tokens import unpack_mint

                supply = unpack_mint(bytes(account.data)).supply
            mints[spec.symbol] = {
                "address": str(spec.address),
                "decimals": spec.decimals,
                "token_program": str(spec.program),
                "supply": str(supply),
            }
        return {
            "slot": slot,
            "block_height": slot,
            "slot_ms": self.options.slot_ms,
            "finalize_slots": self.options.finalize_slots,
            "mints": mints,
            "fee_payer": str(self.fee_payer.pubkey()),
            "fee_payer_lamports": self.chain.get_balance(self.fee_payer.pubkey()),
            "transactions": len(self.chain.history),
            "faults": self.faults.snapshot(),
            "counts": dict(self.dispatcher.counts),
            "state_dir": str(self.options.state_dir),
        }


def _url(address: Any) -> str:
    """The http URL of a TCP server bound to ``address`` (host, port)."""
    host, port = address[:2]
    return f"http://{host if isinstance(host, str) else host.decode()}:{port}"
