"""Research export: accessed data streamed as JSON Lines or CSV.

Rows are read in batches with a server-side cursor and written as they come,
so an export of any size uses constant memory on both ends. The first batch is
read before the response starts, so a query that fails is an error answer.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Generator
from datetime import UTC, datetime

from flask import Response, stream_with_context
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from werkzeug.exceptions import ServiceUnavailable

from autopay_app.extensions import db
from autopay_app.ledger.export import ExportFilter, export_rows
from autopay_app.web.serialize import export_row

CSV_COLUMNS = ("request_id", "agent", "endpoint", "api_type", "url", "accessed_at", "data")


def _jsonl(flt: ExportFilter) -> Generator[str, None, None]:
    with Session(db.engine) as session:
        for row in export_rows(session, flt):
            yield json.dumps(export_row(row), separators=(",", ":")) + "\n"


def _csv(flt: ExportFilter) -> Generator[str, None, None]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    with Session(db.engine) as session:
        for row in export_rows(session, flt):
            item = export_row(row)
            item["data"] = json.dumps(item["data"], separators=(",", ":"))
            writer.writerow([item[c] for c in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_response(flt: ExportFilter, fmt: str) -> Response:
    """A streamed download of the rows matching ``flt`` in ``fmt`` (``jsonl`` or ``csv``).

    The query runs, and its first rows are read, before the response starts: a
    failure is then an ordinary error answer (503 naming the ledger), never a
    200 cut short or the server's own error page.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    body, mimetype = (
        (_csv(flt), "text/csv") if fmt == "csv" else (_jsonl(flt), "application/x-ndjson")
    )
    try:
        first = list(itertools.islice(body, 1))
    except DBAPIError as exc:
        body.close()
        raise ServiceUnavailable(f"the ledger could not be read: {exc.orig}") from None
    response = Response(stream_with_context(itertools.chain(first, body)), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="autopay-export-{stamp}.{fmt}"'
    return response
