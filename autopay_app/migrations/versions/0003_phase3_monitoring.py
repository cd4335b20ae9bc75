"""Phase 3: monitored APIs, monitor settings (budget and pacing), scheduler job runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NEW_TABLES = ("monitored_apis", "monitor_settings", "job_runs")
JSONB = postgresql.JSONB(none_as_null=True, astext_type=sa.Text())
MONEY = sa.Numeric(precision=18, scale=9)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            name,
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        )
        for name in ("created_at", "updated_at")
    ]


def _id() -> sa.Column:
    return sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False)


def _agent_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["agent_id"], ["agents.id"], name=op.f(f"fk_{table}_agent_id_agents"), ondelete="CASCADE"
    )


def upgrade():
    op.create_table(
        "monitored_apis",
        _id(),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column(
            "weight", sa.Numeric(precision=12, scale=4), server_default=sa.text("1"), nullable=False
        ),
        sa.Column("price", MONEY, nullable=True),
        sa.Column("asset", sa.String(length=8), nullable=True),
        sa.Column("ttl_seconds", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="cli", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("weight > 0", name=op.f("ck_monitored_apis_weight_positive")),
        sa.CheckConstraint(
            "ttl_seconds IS NULL OR ttl_seconds > 0", name=op.f("ck_monitored_apis_ttl_positive")
        ),
        sa.CheckConstraint(
            "price IS NULL OR price > 0", name=op.f("ck_monitored_apis_price_positive")
        ),
        _agent_fk("monitored_apis"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitored_apis")),
        sa.UniqueConstraint("agent_id", "url", name="uq_monitored_apis_agent_url"),
    )
    op.create_table(
        "monitor_settings",
        _id(),
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("daily_budget", MONEY, server_default=sa.text("5"), nullable=False),
        sa.Column(
            "burst_fraction",
            sa.Numeric(precision=6, scale=4),
            server_default=sa.text("0.05"),
            nullable=False,
        ),
        sa.Column("max_buys_per_tick", sa.Integer(), server_default=sa.text("5"), nullable=False),
        sa.Column("pacing_tokens", MONEY, nullable=True),
        sa.Column("pacing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_plan", JSONB, nullable=True),
        *_timestamps(),
        _agent_fk("monitor_settings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_settings")),
        sa.UniqueConstraint("agent_id", name=op.f("uq_monitor_settings_agent_id")),
    )
    op.create_table(
        "job_runs",
        _id(),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="RUNNING", nullable=False),
        sa.Column("outcome", JSONB, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('RUNNING', 'OK', 'ERROR')", name=op.f("ck_job_runs_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index(
        "ix_job_runs_job_started_at", "job_runs", ["job", sa.text("started_at DESC")], unique=False
    )
    for table in NEW_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
        )


def downgrade():
    for table in NEW_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_set_updated_at ON {table}")
    op.drop_index("ix_job_runs_job_started_at", table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_table("monitor_settings")
    op.drop_table("monitored_apis")
