"""MCP requests: what kind of call a request is, the tool, its arguments' hash, and why.

``api_requests`` gains ``request_kind`` (``HTTP``, the default of every row
so far, or ``MCP``: a paid tool call on an MCP server), ``tool_name`` and
``arguments_hash`` (SHA-256 of the canonical JSON of the tool's arguments;
the arguments themselves are in ``request_payload``) for MCP calls, and
``reason``: why the caller asked (the words an LLM agent gave the ``autopay
mcp`` server), shown on the dashboard. A check keeps an MCP row's tool name.

Downgrade drops the columns, the check and the enum type.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

CHECK = "ck_api_requests_mcp_has_tool"


def upgrade():
    op.execute("CREATE TYPE request_kind AS ENUM ('HTTP', 'MCP')")
    op.execute(
        "ALTER TABLE api_requests "
        "ADD COLUMN request_kind request_kind NOT NULL DEFAULT 'HTTP', "
        "ADD COLUMN tool_name VARCHAR(128), "
        "ADD COLUMN arguments_hash VARCHAR(64), "
        "ADD COLUMN reason TEXT"
    )
    op.execute(
        f"ALTER TABLE api_requests ADD CONSTRAINT {CHECK} "
        "CHECK (request_kind = 'HTTP' OR tool_name IS NOT NULL)"
    )


def downgrade():
    op.execute(f"ALTER TABLE api_requests DROP CONSTRAINT {CHECK}")
    op.execute(
        "ALTER TABLE api_requests DROP COLUMN reason, DROP COLUMN arguments_hash, "
        "DROP COLUMN tool_name, DROP COLUMN request_kind"
    )
    op.execute("DROP TYPE request_kind")
