"""Approve-before-pay: the web side of :mod:`autopay_app.agent.interactive`.

The agent module is imported on first use, so the dashboard runs (and says
why interactive mode is unavailable) before the agent is installed. Errors of
the agent become HTTP errors both blueprints render: bad input to a quote is
400, an approval that cannot proceed (expired, already decided) is 409, an
unknown request is 404.
"""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

from werkzeug.exceptions import BadRequest, Conflict, NotFound, ServiceUnavailable

from autopay_app.errors import AutopayError
from autopay_app.ledger import dashboard as ledger
from autopay_app.web.context import ledger_session

AGENT_MODULE = "autopay_app.agent.interactive"


def agent_module() -> ModuleType:
    """The agent's interactive service.

    Raises:
        ServiceUnavailable: The module cannot be imported (503, names the module).
    """
    try:
        from autopay_app.agent import interactive
    except ImportError as exc:
        raise ServiceUnavailable(
            f"interactive mode is unavailable: {AGENT_MODULE} cannot be imported ({exc})"
        ) from None
    return interactive


def _refused(exc: AutopayError, kind: type[BadRequest] | type[Conflict]) -> Any:
    error = kind(f"{exc.category}: {exc}")
    error.category = exc.category  # type: ignore[attr-defined]
    return error


def quote(agent_name: str, url: str) -> uuid.UUID:
    """Fetch ``url`` for the agent up to its 402; returns the request id awaiting approval."""
    module = agent_module()
    try:
        return module.request_quote(agent_name, url)  # type: ignore[no-any-return]
    except AutopayError as exc:
        raise _refused(exc, BadRequest) from None


def pending(agent_id: uuid.UUID) -> list[Any]:
    return list(agent_module().pending(ledger_session(), agent_id))


def _known(request_id: uuid.UUID) -> None:
    if ledger.request_detail(ledger_session(), request_id) is None:
        raise NotFound(f"no request {request_id}")


def approve(request_id: uuid.UUID) -> Any:
    """Sign, pay and fetch the approved request; returns the agent's FetchResult.

    The agent records the wallet balance after paying, so the page shows it.
    """
    module = agent_module()
    _known(request_id)
    try:
        result = module.approve(request_id)
    except AutopayError as exc:
        raise _refused(exc, Conflict) from None
    return result


def decline(request_id: uuid.UUID) -> None:
    module = agent_module()
    _known(request_id)
    try:
        module.decline(request_id)
    except AutopayError as exc:
        raise _refused(exc, Conflict) from None
