"""BACKUP audit events: the ledger records each backup and its outcome.

``audit_event_type`` gains ``BACKUP``. A backup is the whole ledger's event, not
an agent's: ``audit_events.agent_id`` may be NULL, for BACKUP events only (a
check constraint; it compares the type as text because a value added to an
enum cannot be used in the transaction that adds it).

Downgrade removes the BACKUP events first (through the maintenance path that
retention uses, since the table is append-only), then restores NOT NULL and
the enum without the value.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

CHECK = "ck_audit_events_agent_unless_backup"
TYPES_0001 = (
    "PAYMENT_SUCCESS",
    "PAYMENT_FAILURE",
    "LOW_BALANCE",
    "NETWORK_ISSUE",
    "CIRCUIT_BREAKER",
    "API_ACCESS",
    "PAYMENT_STATUS",
    "AGENT_DECISION",
)
APPLY_ROLES = (
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'autopay_apply_roles') "
    "THEN PERFORM autopay_apply_roles(); END IF; END $$"
)


def upgrade():
    op.execute("ALTER TYPE audit_event_type ADD VALUE IF NOT EXISTS 'BACKUP'")
    op.execute("ALTER TABLE audit_events ALTER COLUMN agent_id DROP NOT NULL")
    op.execute(
        f"ALTER TABLE audit_events ADD CONSTRAINT {CHECK} "
        "CHECK (agent_id IS NOT NULL OR event_type::text = 'BACKUP')"
    )


def downgrade():
    op.execute(
        "SET LOCAL ROLE autopay_maintenance; SET LOCAL autopay.maintenance = 'on'; "
        "DELETE FROM audit_events WHERE event_type::text = 'BACKUP'; "
        "RESET autopay.maintenance; RESET ROLE"
    )
    op.execute(f"ALTER TABLE audit_events DROP CONSTRAINT {CHECK}")
    op.execute("ALTER TABLE audit_events ALTER COLUMN agent_id SET NOT NULL")
    values = ", ".join(f"'{v}'" for v in TYPES_0001)
    op.execute("ALTER TYPE audit_event_type RENAME TO audit_event_type_0009")
    op.execute(f"CREATE TYPE audit_event_type AS ENUM ({values})")
    op.execute(
        "ALTER TABLE audit_events ALTER COLUMN event_type TYPE audit_event_type "
        "USING event_type::text::audit_event_type"
    )
    op.execute("DROP TYPE audit_event_type_0009")
    op.execute(APPLY_ROLES)
