"""Research export: accessed data streamed as JSON Lines or CSV.

Rows are read in batches with a server-side cursor and written as they come,
so an export of any size uses constant memory on both ends.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Response, stream_with_context
from sqlalchemy.orm import Session

from autopay_app.extensions import db
from autopay_app.ledger.export import ExportFilter, export_rows
from autopay_app.web.serialize import export_row

CSV_COLUMNS = ("request_id", "agent", "endpoint", "api_type", "url", "accessed_at", "data")


def _jsonl(flt: ExportFilter) -> Iterator[str]:
    with Session(db.engine) as session:
        for row in export_rows(session, flt):
            yield json.dumps(export_row(row), separators=(",", ":")) + "\n"


def _csv(flt: ExportFilter) -> Iterator[str]:
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
    """A streamed download of the rows matching ``flt`` in ``fmt`` (``jsonl`` or ``csv``)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    body, mimetype = (
        (_csv(flt), "text/csv") if fmt == "csv" else (_jsonl(flt), "application/x-ndjson")
    )
    response = Response(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="autopay-export-{stamp}.{fmt}"'
    return response
