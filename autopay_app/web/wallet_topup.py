"""``POST /wallet/topup/prepare`` and ``/wallet/topup/submit``: fund an agent from the wallet.

prepare ``{agent_id, address, asset, amount}`` answers ``{key, transaction}`` (the
unsigned transfer, base64); submit ``{key, transaction}`` (signed by the wallet)
answers the signature and the agent's new balance (:mod:`autopay_app.agent.topup`).
"""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify

from autopay_app.agent import topup
from autopay_app.agent.errors import AgentError
from autopay_app.ledger import dashboard as ledger
from autopay_app.web.approvals import agent_runtime
from autopay_app.web.context import ledger_session
from autopay_app.web.dashboard import bp
from autopay_app.web.params import parse_uuid
from autopay_app.web.wallet import json_body, parse_address, refused, seal, unseal


def _agent(raw: str) -> Any:
    agent_id = parse_uuid(raw, "agent_id")
    row = ledger.get_agent(ledger_session(), agent_id) or abort(404, f"no agent {agent_id}")
    try:
        return agent_runtime().agent_for(row.name)
    except AgentError as exc:
        raise refused(exc) from None


@bp.post("/wallet/topup/prepare")
def wallet_topup_prepare() -> Any:
    body = json_body("agent_id", "address", "asset", "amount")
    agent = _agent(body["agent_id"])
    payer = parse_address(body["address"])
    try:
        held = topup.prepare(agent.ctx, payer, body["asset"], body["amount"])
    except AgentError as exc:
        raise refused(exc) from None
    return jsonify(key=seal(held), transaction=held.unsigned_b64)


@bp.post("/wallet/topup/submit")
def wallet_topup_submit() -> Any:
    body = json_body("agent_id", "key", "transaction")
    agent = _agent(body["agent_id"])
    try:
        done = topup.submit(agent.ctx, unseal(body["key"], topup.KIND), body["transaction"])
    except AgentError as exc:
        raise refused(exc) from None
    return jsonify(
        signature=done.signature,
        asset=done.asset,
        amount=str(done.amount),
        balance=str(done.balance),
        paused=done.paused,
    )
