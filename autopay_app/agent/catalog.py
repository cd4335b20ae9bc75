"""The seller's catalog (GET /api/catalog): listed prices for the quote-drift guard, and
the recipients it names (allowed by the default policy for the premium API)."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from autopay_app.agent.errors import AgentError
from autopay_app.agent.http import Http

TTL_S = 60.0
FAILED_TTL_S = 5.0


class Catalog:
    def __init__(self, http: Http) -> None:
        self.http = http  # the agent's: the same body cap and deadlines as any seller call
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def entries(self, base: str) -> list[dict[str, Any]]:
        """The catalog of the server at ``base`` (cached; empty when unreachable)."""
        hit = self._cache.get(base)
        if hit and time.monotonic() - hit[0] < TTL_S:
            return hit[1]
        try:
            answer = self.http.get(base.rstrip("/") + "/api/catalog")
        except AgentError:
            # Asked again only after FAILED_TTL_S: an unreachable catalog must not cost
            # every purchase a timeout.
            stale = hit[1] if hit else []
            self._cache[base] = (time.monotonic() - TTL_S + FAILED_TTL_S, stale)
            return stale
        body = answer.json_or_text() if answer.status == 200 else {}
        listed = body.get("items", body.get("resources", [])) if isinstance(body, dict) else body
        items = [i for i in listed if isinstance(i, dict)] if isinstance(listed, list) else []
        self._cache[base] = (time.monotonic(), items)
        return items

    def entry(self, url: str) -> dict[str, Any] | None:
        parts = urlsplit(url)
        for item in self.entries(f"{parts.scheme}://{parts.netloc}"):
            if item.get("path") == parts.path:
                return item
        return None

    def recipients(self, base: str) -> frozenset[str]:
        """Every ``payTo`` the catalog at ``base`` names in its offers."""
        named = set()
        for item in self.entries(base):
            accepts = item.get("accepts")
            for offer in accepts if isinstance(accepts, list) else []:
                pay_to = offer.get("payTo") if isinstance(offer, dict) else None
                if isinstance(pay_to, str):
                    named.add(pay_to)
        return frozenset(named)

    def prices(self, url: str) -> dict[str, Decimal]:
        """Listed price per asset for ``url``'s path; {} when unknown."""
        item = self.entry(url) or {}
        out = {}
        for asset, price in (item.get("prices") or {}).items():
            try:
                out[str(asset)] = Decimal(str(price))
            except InvalidOperation:
                continue
        return out
