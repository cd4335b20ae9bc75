"""Scripted sellers on loopback for tests: hostile 402s, failing answers, counted hits.

These stand in for arbitrary third-party APIs on the internet (outside the
product); the real seller in these tests is the mock premium API.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request], Response]


@dataclass
class Seller:
    url: str
    hits: list[str] = field(default_factory=list)
    handler: Handler | None = None


@contextmanager
def scripted_seller(handler: Handler) -> Iterator[Seller]:
    seller = Seller(url="", handler=handler)

    @Request.application
    def app(request: Request) -> Response:
        seller.hits.append(request.path)
        assert seller.handler is not None
        return seller.handler(request)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    seller.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seller
    finally:
        server.shutdown()
        thread.join(5)


def answer_402(document: Any, *, as_header: bool = True, raw: bytes | None = None) -> Response:
    """A 402 carrying ``document`` (v2 header) or ``raw`` bytes as the header value."""
    headers = {}
    body = json.dumps(document) if not isinstance(document, bytes) else document
    if as_header:
        value = (
            raw
            if raw is not None
            else base64.b64encode(body.encode() if isinstance(body, str) else body)
        )
        headers["PAYMENT-REQUIRED"] = value.decode("latin-1")
    return Response(body, status=402, headers=headers, content_type="application/json")
