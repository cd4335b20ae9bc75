"""The research export: every request whose data arrived, streamed oldest first.

:func:`export_rows` reads in batches (``yield_per``) inside one transaction and
expunges each request once yielded, so memory stays flat however many rows
match; the web layer (:mod:`autopay_app.web.exporting`) turns the rows into
JSON Lines or CSV.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from autopay_app.ledger.dashboard import window
from autopay_app.models import Agent, ApiRequest, ApiType


@dataclass(frozen=True)
class ExportFilter:
    """Which accessed data to export (every field optional)."""

    agent_id: uuid.UUID | None = None
    api_type: ApiType | None = None
    endpoint: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ExportRow:
    """One exported request and the data it accessed."""

    request_id: uuid.UUID
    agent: str
    endpoint: str
    api_type: str
    url: str | None
    accessed_at: datetime
    data: Any


def export_rows(session: Session, flt: ExportFilter, batch: int = 500) -> Iterator[ExportRow]:
    """Every request with accessed data matching ``flt``, oldest first, streamed in batches."""
    query = (
        sa.select(ApiRequest, Agent.name)
        .join(Agent, Agent.id == ApiRequest.agent_id)
        .where(ApiRequest.data_accessed.is_not(None))
    )
    for column, value in (
        (ApiRequest.agent_id, flt.agent_id),
        (ApiRequest.api_type, flt.api_type),
        (ApiRequest.endpoint, flt.endpoint),
    ):
        if value is not None:
            query = query.where(column == value)
    query = window(query, ApiRequest.created_at, flt.since, flt.until)
    query = query.order_by(ApiRequest.created_at, ApiRequest.id)
    with session.begin():
        result = session.execute(query.execution_options(yield_per=batch))
        for request, name in result:
            yield ExportRow(
                request.id,
                name,
                request.endpoint,
                str(request.api_type),
                request.url,
                request.created_at,
                request.data_accessed,
            )
            session.expunge(request)
