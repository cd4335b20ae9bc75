"""``POST /wallet/pay/<request_id>/{prepare,submit,refuse}``: pay an approval with the wallet.

prepare ``{address}`` answers ``{key, transaction}``: the x402 payment the policy
allows, built for the wallet to sign (:func:`autopay_app.agent.wallet_pay.prepare`).
submit ``{key, transaction}`` pays with the wallet's signed transaction and answers
the request's outcome. refuse ``{reason, detail}``: the wallet refused, timed out or
disconnected; the request fails (WALLET_REFUSED), nothing is paid.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import jsonify

from autopay_app.agent import wallet_pay
from autopay_app.agent.errors import AgentError, PolicyDenied
from autopay_app.web.approvals import agent_runtime
from autopay_app.web.dashboard import bp
from autopay_app.web.params import parse_uuid
from autopay_app.web.wallet import json_body, parse_address, refused, seal, unseal


def _agent(request_id: uuid.UUID) -> Any:
    try:
        return agent_runtime().agent_for_request(request_id)
    except AgentError as exc:
        raise refused(exc) from None


@bp.post("/wallet/pay/<request_id>/prepare")
def wallet_pay_prepare(request_id: str) -> Any:
    rid = parse_uuid(request_id, "request_id")
    payer = parse_address(json_body("address")["address"])
    agent = _agent(rid)
    try:
        held = wallet_pay.prepare(agent.ctx, rid, payer)
    except AgentError as exc:
        raise refused(exc) from None
    return jsonify(key=seal(held), transaction=held.unsigned_b64)


@bp.post("/wallet/pay/<request_id>/submit")
def wallet_pay_submit(request_id: str) -> Any:
    rid = parse_uuid(request_id, "request_id")
    body = json_body("key", "transaction")
    held = unseal(body["key"], wallet_pay.KIND)
    if held.facts.get("request_id") != str(rid):
        raise refused(PolicyDenied(f"the transaction is not for request {rid}"))
    agent = _agent(rid)
    try:
        result = wallet_pay.submit(agent.ctx, held, body["transaction"])
    except AgentError as exc:
        raise refused(exc) from None
    return jsonify(
        request_id=str(result.request_id),
        status=result.status,
        error=result.error,
        category=result.category,
        payment_id=str(result.payment_id) if result.payment_id else None,
    )


@bp.post("/wallet/pay/<request_id>/refuse")
def wallet_pay_refuse(request_id: str) -> Any:
    rid = parse_uuid(request_id, "request_id")
    body = json_body("reason")
    detail = body.get("detail")
    agent = _agent(rid)
    try:
        category = wallet_pay.refuse(
            agent.ctx, rid, body["reason"], detail if isinstance(detail, str) else ""
        )
    except AgentError as exc:
        raise refused(exc) from None
    return jsonify(request_id=str(rid), status="FAILED", category=category)
