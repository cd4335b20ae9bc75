"""The mock API's OpenAPI 3.1 document (``GET /openapi.json``), built from the catalog.

It describes what a client meets: the free endpoints (health, catalog, this
document) and, per paid endpoint, its query parameters, the payment headers
(``PAYMENT-SIGNATURE`` v2, ``X-PAYMENT`` v1, ``X-PAYMENT-RECEIPT`` to fetch a
settled response again) and every answer the gate and the views give: 200
data, 400 bad query (no charge), 402 payment required (the x402 instructions
in ``PAYMENT-REQUIRED``), 409 a payment already settled or settling, 431
oversized headers and 503 facilitator unavailable. The fault-injection
endpoints under ``/_mock`` are test controls and stay out of it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from .catalog import ENDPOINTS, SERVICE_NAME

bp = Blueprint("mock_api_openapi", __name__)

_JSON = {"application/json": {"schema": {"type": "object"}}}
_ERROR = {"description": "error", "content": _JSON}
_PAYMENT_HEADERS = (
    ("PAYMENT-SIGNATURE", "x402 v2 payment payload (base64 JSON)"),
    ("X-PAYMENT", "x402 v1 payment payload (base64 JSON)"),
    ("X-PAYMENT-RECEIPT", "a settled payment's receipt: the paid response again"),
)


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _paid_operation(endpoint: Any) -> dict[str, Any]:
    query = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": meaning,
            "schema": {"type": "string"},
        }
        for name, meaning in endpoint.query.items()
    ]
    return {
        "summary": endpoint.description,
        "tags": [endpoint.category],
        "parameters": [*query, *(_header(n, d) for n, d in _PAYMENT_HEADERS)],
        "responses": {
            "200": {"description": "the data (paid)", "content": _JSON},
            "400": {**_ERROR, "description": "bad query; the payment is not settled"},
            "402": {
                "description": "payment required: x402 instructions in PAYMENT-REQUIRED "
                "(v2) and the JSON body (v1), with the reason a payment was refused",
                "headers": {"PAYMENT-REQUIRED": {"schema": {"type": "string"}}},
                "content": _JSON,
            },
            "409": {**_ERROR, "description": "this payment was settled or is settling"},
            "431": {**_ERROR, "description": "request headers too large"},
            "503": {**_ERROR, "description": "facilitator unavailable; see Retry-After"},
        },
    }


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "liveness",
                "responses": {"200": {"description": "ok", "content": _JSON}},
            }
        },
        "/api/catalog": {
            "get": {
                "summary": "paid endpoints and their prices",
                "responses": {"200": {"description": "catalog", "content": _JSON}, "503": _ERROR},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "this document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": _JSON}},
            }
        },
    }
    for endpoint in ENDPOINTS:
        paths[endpoint.path] = {"get": _paid_operation(endpoint)}
    return {
        "openapi": "3.1.0",
        "info": {"title": SERVICE_NAME, "version": "1"},
        "paths": paths,
    }


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())
