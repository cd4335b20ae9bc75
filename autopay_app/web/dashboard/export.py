"""``/export``: pick filters, download the accessed data as JSON Lines or CSV."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from autopay_app.ledger import dashboard as ledger
from autopay_app.models import ApiType
from autopay_app.web import filters
from autopay_app.web.context import ledger_session
from autopay_app.web.dashboard import bp
from autopay_app.web.exporting import export_response


@bp.get("/export")
def export_form() -> str:
    agents = ledger.list_agents(ledger_session())
    return render_template(
        "dashboard/export.html", agents=agents, api_types=list(ApiType), args=request.args
    )


@bp.get("/export/download")
def export_download() -> Any:
    flt = filters.export_filter(request.args)
    return export_response(flt, filters.export_format(request.args))
