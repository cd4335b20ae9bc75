"""The seller's catalog (GET /api/catalog): listed prices for the quote-drift guard."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import requests

TTL_S = 60.0


class Catalog:
    def __init__(self, timeout: float = 3.0) -> None:
        self.timeout = timeout
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def entries(self, base: str) -> list[dict[str, Any]]:
        """The catalog of the server at ``base`` (cached; empty when unreachable)."""
        hit = self._cache.get(base)
        if hit and time.monotonic() - hit[0] < TTL_S:
            return hit[1]
        try:
            body = requests.get(base + "/api/catalog", timeout=self.timeout).json()
        except (requests.RequestException, ValueError):
            return hit[1] if hit else []
        items = body.get("items", body.get("resources", [])) if isinstance(body, dict) else body
        items = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        self._cache[base] = (time.monotonic(), items)
        return items

    def entry(self, url: str) -> dict[str, Any] | None:
        parts = urlsplit(url)
        for item in self.entries(f"{parts.scheme}://{parts.netloc}"):
            if item.get("path") == parts.path:
                return item
        return None

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
