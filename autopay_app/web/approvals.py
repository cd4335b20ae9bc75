"""Approve-before-pay (Phase 2), the web side: the dashboard's and the API's entry points.

They act on the agents the Flask app runs (:mod:`autopay_app.agent.runtime`,
imported on first use, so the dashboard runs, and says why interactive mode is
unavailable, before the agent is installed). The approvals waiting are a ledger
read (:func:`autopay_app.ledger.approvals.pending`). Errors of the agent become
HTTP errors both blueprints render: bad input to a quote is 400, an approval
that cannot proceed (expired, already decided) is 409, an unknown request is 404.
"""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

from werkzeug.exceptions import (
    BadRequest,
    Conflict,
    GatewayTimeout,
    HTTPException,
    NotFound,
    ServiceUnavailable,
)

from autopay_app.errors import AutopayError
from autopay_app.ledger import approvals
from autopay_app.ledger import dashboard as ledger
from autopay_app.web.context import ledger_session

AGENT_MODULE = "autopay_app.agent.runtime"


def agent_runtime() -> ModuleType:
    """The agents of this app.

    Raises:
        ServiceUnavailable: The agent cannot be imported (503, names the module).
    """
    try:
        from autopay_app.agent import runtime
    except ImportError as exc:
        raise ServiceUnavailable(
            f"interactive mode is unavailable: {AGENT_MODULE} cannot be imported ({exc})"
        ) from None
    return runtime


def _refused(exc: AutopayError, kind: type[BadRequest] | type[Conflict]) -> HTTPException:
    error: HTTPException = kind(f"{exc.category}: {exc}")
    error.category = exc.category  # type: ignore[attr-defined]
    return error


def quote(agent_name: str, url: str) -> uuid.UUID:
    """Fetch ``url`` for the agent up to its 402; returns the request id awaiting approval."""
    runtime = agent_runtime()
    try:
        return runtime.agent_for(agent_name).quote(url)  # type: ignore[no-any-return]
    except AutopayError as exc:
        raise _refused(exc, BadRequest) from None


def pending(agent_id: uuid.UUID) -> list[approvals.Approval]:
    """The agent's approvals waiting (interactive mode must be available to act on them)."""
    agent_runtime()
    return approvals.pending(ledger_session(), agent_id)


def _known(request_id: uuid.UUID) -> None:
    if ledger.request_detail(ledger_session(), request_id) is None:
        raise NotFound(f"no request {request_id}")


def approve(request_id: uuid.UUID) -> Any:
    """Sign, pay and fetch the approved request: a worker's job, waited for (in this
    process when no worker is alive, :mod:`autopay_app.tasks.queued_approval`).

    Returns the :class:`~autopay_app.tasks.queued_approval.Answer`: the agent's
    FetchResult and the job's id. The agent records the wallet balance after paying,
    so the page shows it.
    """
    runtime = agent_runtime()
    from autopay_app.tasks import queued_approval

    _known(request_id)
    try:
        agent = runtime.agent_for_request(request_id)
        return queued_approval.approve(agent, request_id, ledger_session())
    except queued_approval.StillRunning as exc:
        raise GatewayTimeout(str(exc)) from None
    except AutopayError as exc:
        raise _refused(exc, Conflict) from None


def decline(request_id: uuid.UUID) -> None:
    runtime = agent_runtime()
    _known(request_id)
    try:
        runtime.agent_for_request(request_id).decline(request_id)
    except AutopayError as exc:
        raise _refused(exc, Conflict) from None
