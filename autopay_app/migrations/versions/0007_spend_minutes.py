"""Spend windows from running sums: ``spend_minutes`` and the trigger that keeps it.

The caps are checked on every payment, under the agent's spend lock. Summing
every payment of the last day made that check grow with the day's payments
(about a microsecond per payment: 10 ms at 10,000). ``spend_minutes`` holds what
each agent committed per minute and endpoint; a window is at most 60 (hour) or
1,440 (day) rows per endpoint. The trigger on ``payments`` adds a payment's
amount when it is written not FAILED and takes it back when it becomes FAILED
(or is deleted); it also follows a changed amount, creation time or request.
Existing payments are summed into the table by the upgrade.

The app role gets its grants from ``autopay_apply_roles()`` (migration 0005).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TRIGGER = r"""
CREATE FUNCTION autopay_spend_minutes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was numeric := 0;
    now_ numeric := 0;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.status <> 'FAILED' THEN
        was := OLD.amount;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status <> 'FAILED' THEN
        now_ := NEW.amount;
    END IF;
    IF TG_OP = 'UPDATE' AND was = now_ AND OLD.created_at = NEW.created_at
       AND OLD.api_request_id = NEW.api_request_id THEN
        RETURN NULL;  -- SIGNED -> CONFIRMED -> VERIFIED: nothing to count
    END IF;
    IF was <> 0 THEN
        UPDATE spend_minutes SET amount = amount - was
        WHERE agent_id = OLD.agent_id AND minute = date_trunc('minute', OLD.created_at)
          AND endpoint = (SELECT endpoint FROM api_requests WHERE id = OLD.api_request_id);
    END IF;
    IF now_ <> 0 THEN
        INSERT INTO spend_minutes (agent_id, minute, endpoint, amount)
        SELECT NEW.agent_id, date_trunc('minute', NEW.created_at), r.endpoint, now_
        FROM api_requests r WHERE r.id = NEW.api_request_id
        ON CONFLICT (agent_id, minute, endpoint)
        DO UPDATE SET amount = spend_minutes.amount + EXCLUDED.amount;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER payments_spend_minutes
AFTER INSERT OR DELETE OR UPDATE OF status, amount, created_at, api_request_id ON payments
FOR EACH ROW EXECUTE FUNCTION autopay_spend_minutes();
"""

BACKFILL = """
INSERT INTO spend_minutes (agent_id, minute, endpoint, amount)
SELECT p.agent_id, date_trunc('minute', p.created_at), r.endpoint, sum(p.amount)
FROM payments p JOIN api_requests r ON r.id = p.api_request_id
WHERE p.status <> 'FAILED'
GROUP BY 1, 2, 3
"""


def upgrade():
    op.create_table(
        "spend_minutes",
        sa.Column("agent_id", sa.UUID(), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column(
            "amount",
            sa.Numeric(precision=18, scale=9),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_spend_minutes_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", "minute", "endpoint", name=op.f("pk_spend_minutes")),
    )
    op.execute(TRIGGER)
    op.execute(BACKFILL)
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'autopay_apply_roles') "
        "THEN PERFORM autopay_apply_roles(); END IF; END $$"
    )


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS payments_spend_minutes ON payments")
    op.execute("DROP FUNCTION IF EXISTS autopay_spend_minutes()")
    op.drop_table("spend_minutes")
