"""Per-agent tick interval: ``monitor_settings.tick_seconds`` and ``last_tick_at``.

``tick_seconds`` is how often the prioritizer ticks the agent (NULL: the
scheduler's ``AUTOPAY_TICK_S``); ``last_tick_at`` is when its last tick began,
written by the scheduler when it claims a tick and by the tick itself, so the
job knows which agents are due. Only columns are added: the table's grants
(migration 0005) already cover them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHECK = "ck_monitor_settings_tick_seconds_positive"


def upgrade():
    op.add_column(
        "monitor_settings",
        sa.Column("tick_seconds", sa.Numeric(precision=9, scale=3), nullable=True),
    )
    op.add_column(
        "monitor_settings",
        sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_check_constraint(
        op.f(CHECK), "monitor_settings", "tick_seconds IS NULL OR tick_seconds > 0"
    )


def downgrade():
    op.drop_constraint(op.f(CHECK), "monitor_settings", type_="check")
    op.drop_column("monitor_settings", "last_tick_at")
    op.drop_column("monitor_settings", "tick_seconds")
