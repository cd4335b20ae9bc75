"""Security hardening: two failure categories of a seller's answer, dashboard sessions.

``error_category`` gains ``SELLER_TIMEOUT`` and ``RESPONSE_TOO_LARGE``. A seller that does not answer within a call's total deadline (or trickles
bytes past it) was classified ``RPC_TIMEOUT``, as if the Solana RPC were slow;
an answer over the body cap was ``SELLER_5XX``. Both get their own value of the
``error_category`` enum. The downgrade maps them back (``RPC_TIMEOUT``,
``SELLER_5XX``) and rebuilds the enum without them (PostgreSQL cannot drop an
enum value).

``admin_sessions`` keeps the dashboard's logged-in browsers on the server (the
SHA-256 of each cookie's token and a tag of the password it was opened with), so
logging out or changing the password ends a session even if its cookie was copied.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NEW = {"SELLER_TIMEOUT": "RPC_TIMEOUT", "RESPONSE_TOO_LARGE": "SELLER_5XX"}
OLD_VALUES = (
    "NETWORK",
    "RPC_TIMEOUT",
    "RATE_LIMITED",
    "SELLER_5XX",
    "FACILITATOR_REJECTED",
    "SETTLEMENT_PENDING",
    "INVALID_402",
    "POLICY_DENIED",
    "INSUFFICIENT_FUNDS",
    "DUPLICATE",
    "SIGNATURE_INVALID",
    "UNKNOWN",
)
APPLY_ROLES = (
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'autopay_apply_roles') "
    "THEN PERFORM autopay_apply_roles(); END IF; END $$"
)


def upgrade() -> None:
    for value in NEW:
        op.execute(f"ALTER TYPE error_category ADD VALUE IF NOT EXISTS '{value}'")
    op.create_table(
        "admin_sessions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("password_tag", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_admin_sessions_expires_at"), "admin_sessions", ["expires_at"], unique=False
    )
    op.execute(APPLY_ROLES)


def downgrade() -> None:
    op.drop_table("admin_sessions")
    for value, old in NEW.items():
        op.execute(
            f"UPDATE error_classifications SET category = '{old}' WHERE category = '{value}'"
        )
    values = ", ".join(f"'{v}'" for v in OLD_VALUES)
    op.execute("ALTER TYPE error_category RENAME TO error_category_0010")
    op.execute(f"CREATE TYPE error_category AS ENUM ({values})")
    op.execute(
        "ALTER TABLE error_classifications ALTER COLUMN category TYPE error_category "
        "USING category::text::error_category"
    )
    op.execute("DROP TYPE error_category_0010")
    op.execute(APPLY_ROLES)
