"""HTTP front of the RPC port: JSON-RPC on POST /, and the harness's own endpoints.

=======================  =====================================================
POST /                   JSON-RPC 2.0 (single requests and batches)
GET  /health             "ok", like a validator's health endpoint
POST /_harness/fund      faucet: {"address", "sol", "usdc", "cash"}
GET  /_harness/state     slot, mints, fee payer, fault rules and counters
POST /_harness/faults    add or replace a fault rule (see harness.faults)
DELETE /_harness/faults  clear all rules (or ?method=NAME for one)
POST /_harness/advance   warp the clock: {"slots": N}
GET  /_harness/tx/SIG    a readable JSON view of one transaction
=======================  =====================================================
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness.errors import FundError
from harness.faults import FaultSpecError
from harness.httpbase import BodyTooLarge, FastHandler
from harness.jsonrpc import HttpFault
from harness.rpc_tx import render_transaction

log = logging.getLogger(__name__)


class RpcHandler(FastHandler):
    """Routes requests on the RPC port."""

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        try:
            body = self.read_body()
        except BodyTooLarge:
            self.reply_too_large()
            return
        path = urlsplit(self.path).path
        if path in ("/", ""):
            self._json_rpc(body)
        elif path.startswith("/_harness/"):
            self._admin("POST", path, body)
        else:
            self.reply_json(404, {"error": "not found"})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = urlsplit(self.path).path
        if path == "/health":
            self.reply(200, b"ok", "text/plain")
        elif path.startswith("/_harness/"):
            self._admin("GET", path, b"")
        else:
            self.reply_json(405, {"error": "use POST for JSON-RPC"})

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib naming
        self._admin("DELETE", urlsplit(self.path).path, b"")

    def _json_rpc(self, body: bytes) -> None:
        app = self.server.app
        try:
            answer = app.dispatcher.handle_body(body)
        except HttpFault as fault:
            self.http_fault(fault.decision.mode, fault.decision.hang_s)
            return
        self.reply(200, answer)

    def _admin(self, verb: str, path: str, body: bytes) -> None:
        try:
            status, answer = self._route(verb, path, body)
        except (FundError, FaultSpecError) as exc:
            status, answer = 400, {"error": str(exc)}
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deeply
            status, answer = 400, {"error": f"invalid JSON body: {exc}"}
        except Exception as exc:
            log.exception("admin endpoint %s %s failed", verb, path)
            status, answer = 500, {"error": str(exc)}
        self.reply_json(status, answer)

    def _route(self, verb: str, path: str, body: bytes) -> tuple[int, Any]:
        app = self.server.app
        if (verb, path) == ("POST", "/_harness/fund"):
            return 200, app.fund(json.loads(body or b"null"))
        if (verb, path) == ("GET", "/_harness/state"):
            return 200, app.describe()
        if (verb, path) == ("POST", "/_harness/faults"):
            rule = app.faults.set(json.loads(body or b"null"))
            return 200, {"fault": rule.to_json(), "faults": app.faults.snapshot()}
        if (verb, path) == ("DELETE", "/_harness/faults"):
            method = parse_qs(urlsplit(self.path).query).get("method", [None])[0]
            app.faults.clear(method)
            return 200, {"faults": app.faults.snapshot()}
        if (verb, path) == ("POST", "/_harness/advance"):
            slots = json.loads(body or b"{}").get("slots", 1)
            if isinstance(slots, bool) or not isinstance(slots, int) or slots < 0:
                raise FundError("slots must be a non-negative integer")
            return 200, {"slot": app.chain.clock.advance(slots)}
        if verb == "GET" and path.startswith("/_harness/tx/"):
            return self._tx_view(path.rsplit("/", 1)[-1])
        return 404, {"error": "not found"}

    def _tx_view(self, signature: str) -> tuple[int, Any]:
        chain = self.server.app.chain
        record = chain.history.get(signature)
        if record is None:
            return 404, {"error": "transaction not found", "signature": signature}
        view = render_transaction(chain, record, "jsonParsed", 0)
        view["signature"] = signature
        view["confirmationStatus"] = record.status_at(chain.clock.slot(), chain.finalize_slots)
        return 200, view
