"""Keyset indexes for the dashboard's unfiltered lists (newest first).

The audit trail, payments and requests pages page through their whole table by
``(created_at, id)`` when no filter is set; without these indexes PostgreSQL
sorts the table (1.3 s at 1,000,000 audit events).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_audit_events_created_at_id", "audit_events"),
    ("ix_payments_created_at_id", "payments"),
    ("ix_api_requests_created_at_id", "api_requests"),
)


def upgrade():
    for name, table in INDEXES:
        op.create_index(name, table, [sa.text("created_at DESC"), sa.text("id DESC")])


def downgrade():
    for name, table in INDEXES:
        op.drop_index(name, table_name=table)
