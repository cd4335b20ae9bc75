"""A seller written only with the x402 SDK: the neutral baseline of ``autopay bench``.

Flask, the SDK's ``PaymentMiddleware`` and ``x402ResourceServerSync`` with its
SVM ``exact`` server scheme, and, instead of a facilitator over HTTP, the SDK's
own ``x402FacilitatorSync`` object in the same process (the SDK's SVM facilitator
scheme and keypair signer, talking to the given RPC). One paid route,
``GET /api/market-feed``, priced in USDC by the SDK's own asset table. Nothing
of the project's seller (``mock_premium_api``) is used, so the ratio of the two
sellers is the cost of the mock API's own checks and bookkeeping.

It is served like the mock API (gunicorn, one ``gthread`` worker with 16
threads, ``TCP_NODELAY``, no access log), so the two sellers differ only in
their code. Run as ``python -m autopay_app.devtools.bench.sdk_seller --rpc-url URL``;
it prints ``SDK SELLER READY {"url", "pay_to", "fee_payer", "pid"}`` (the
master's pid) once it listens. Its fee payer needs SOL and its ``pay_to`` a USDC
account before the first payment (the benchmark funds both through the faucet).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

from flask import Flask, jsonify
from gunicorn.app.base import BaseApplication
from solders.keypair import Keypair
from x402 import x402FacilitatorSync, x402ResourceServerSync
from x402.http.middleware.flask import PaymentMiddleware
from x402.http.types import PaymentOption, RouteConfig
from x402.mechanisms.svm import SOLANA_DEVNET_CAIP2, FacilitatorKeypairSigner
from x402.mechanisms.svm.exact import ExactSvmServerScheme
from x402.mechanisms.svm.exact.facilitator import ExactSvmScheme

from autopay_app.pids import alive

READY_PREFIX = "SDK SELLER READY "
PATH = "/api/market-feed"
PRICE = "$0.001"


def create_app(rpc_url: str, pay_to: str, fee_payer: Keypair) -> Flask:
    """The seller: one route behind the SDK's middleware, settled by the SDK's facilitator."""
    facilitator = x402FacilitatorSync()
    facilitator.register(
        [SOLANA_DEVNET_CAIP2], ExactSvmScheme(FacilitatorKeypairSigner(fee_payer, rpc_url))
    )
    server = x402ResourceServerSync(facilitator)  # type: ignore[arg-type]
    server.register(SOLANA_DEVNET_CAIP2, ExactSvmServerScheme())  # type: ignore[arg-type]
    app = Flask(__name__)

    @app.get(PATH)
    def market_feed() -> Any:
        return jsonify({"symbols": {"SOL": {"price": "150.00"}}, "source": "sdk-seller"})

    option = PaymentOption(scheme="exact", pay_to=pay_to, price=PRICE, network=SOLANA_DEVNET_CAIP2)
    routes = {f"GET {PATH}": RouteConfig(accepts=[option], mime_type="application/json")}
    PaymentMiddleware(app, routes, server)
    return app


class _Server(BaseApplication):  # type: ignore[misc]
    """gunicorn as the mock API runs it (1 gthread worker x 16 threads)."""

    def __init__(self, rpc_url: str, port: int, parent_pid: int | None) -> None:
        self.rpc_url = rpc_url
        self.port = port
        self.parent_pid = parent_pid
        self.pay_to = str(Keypair().pubkey())
        self.fee_payer = Keypair()
        self._announced = multiprocessing.Value("b", 0)
        super().__init__()

    def load_config(self) -> None:
        options = {
            "bind": f"127.0.0.1:{self.port}",
            "workers": 1,
            "threads": 16,
            "worker_class": "gthread",
            "keepalive": 75,  # as the mock API
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "control_socket_disable": True,
            "when_ready": self._when_ready,
            "post_worker_init": self._post_worker_init,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self.rpc_url, self.pay_to, self.fee_payer)

    def _when_ready(self, arbiter: Any) -> None:
        if self.parent_pid:
            threading.Thread(target=_exit_with, args=(self.parent_pid,), daemon=True).start()

    def _post_worker_init(self, worker: Any) -> None:
        with self._announced.get_lock():
            if self._announced.value:
                return
            self._announced.value = 1
        host, port = worker.sockets[0].getsockname()[:2]
        ready = {
            "url": f"http://{host}:{port}",
            "pay_to": self.pay_to,
            "fee_payer": str(self.fee_payer.pubkey()),
            "pid": worker.ppid,
        }
        print(READY_PREFIX + json.dumps(ready), flush=True)


def _exit_with(parent_pid: int) -> None:
    """SIGTERM this master once the benchmark that started it is gone."""
    while alive(parent_pid):
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rpc-url", required=True, help="Solana JSON-RPC URL")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--parent-pid", type=int, help="exit once this process is gone")
    args = parser.parse_args(argv)
    _Server(args.rpc_url, args.port, args.parent_pid).run()


if __name__ == "__main__":
    main()
