"""The premium API's free catalog (GET {PREMIUM_API_URL}/api/catalog), read with a short timeout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Catalog:
    """The catalog's items, or the reason it could not be read."""

    source: str
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def fetch_catalog(premium_api_url: str) -> Catalog:
    """Read the catalog; an unreachable or malformed answer becomes ``error``, not an exception."""
    url = premium_api_url.rstrip("/") + "/api/catalog"
    try:
        answer = requests.get(url, timeout=TIMEOUT_SECONDS)
        answer.raise_for_status()
        body = answer.json()
    except requests.RequestException as exc:
        return Catalog(url, error=f"the premium API at {url} is unreachable ({type(exc).__name__})")
    except ValueError:
        return Catalog(url, error=f"the premium API at {url} did not answer with JSON")
    items = body.get("items") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return Catalog(url, error=f"the catalog at {url} has no list of items")
    return Catalog(url, items=[i for i in items if isinstance(i, dict) and i.get("resource")])


def resource_allowed(catalog: Catalog, url: str) -> bool:
    """True when ``url`` is one of the catalog's resources (query string aside)."""
    base = url.split("?", 1)[0]
    return any(item["resource"] == base for item in catalog.items)
