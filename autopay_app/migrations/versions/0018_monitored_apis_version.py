"""A version of each agent's monitored APIs: ``monitor_settings.apis_version``.

The Phase 3 tick read its 1,000 monitored APIs' configuration (URL, weight,
price, asset, TTL) with their staleness figures every tick, though the
configuration changes only when someone adds, edits or removes an API: at
1,000 APIs, turning those rows into Python values was ~5 ms of a ~30 ms tick.

``apis_version`` counts the changes to an agent's ``monitored_apis`` rows. The
triggers bump it in the transaction that makes the change, whatever makes it
(the CLI, the dashboard, the catalog import, psql): INSERT, UPDATE and DELETE
per statement, for the agents whose rows the statement touched (its transition
tables), TRUNCATE for every agent. The counter is read in the same statement as
the rest of the tick's situation; a tick whose process holds the configuration
at that version reads only the staleness figures
(:func:`autopay_app.ledger.monitoring.snapshot`).

The function runs with the rights of whoever changes the rows (the app role may
UPDATE ``monitor_settings``, migration 0005). Downgrade drops the triggers, the
function and the column.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

FUNCTION = r"""
CREATE FUNCTION autopay_monitored_apis_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE monitor_settings SET apis_version = apis_version + 1;
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE monitor_settings SET apis_version = apis_version + 1
        WHERE agent_id IN (SELECT agent_id FROM added);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE monitor_settings SET apis_version = apis_version + 1
        WHERE agent_id IN (SELECT agent_id FROM removed);
    ELSE
        UPDATE monitor_settings SET apis_version = apis_version + 1
        WHERE agent_id IN (SELECT agent_id FROM added UNION SELECT agent_id FROM removed);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER monitored_apis_version_insert AFTER INSERT ON monitored_apis
REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION autopay_monitored_apis_changed();
CREATE TRIGGER monitored_apis_version_update AFTER UPDATE ON monitored_apis
REFERENCING OLD TABLE AS removed NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION autopay_monitored_apis_changed();
CREATE TRIGGER monitored_apis_version_delete AFTER DELETE ON monitored_apis
REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION autopay_monitored_apis_changed();
CREATE TRIGGER monitored_apis_version_truncate AFTER TRUNCATE ON monitored_apis
FOR EACH STATEMENT EXECUTE FUNCTION autopay_monitored_apis_changed();
"""

TRIGGERS = ("insert", "update", "delete", "truncate")

APPLY_ROLES = (
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'autopay_apply_roles') "
    "THEN PERFORM autopay_apply_roles(); END IF; END $$"
)


def upgrade():
    op.add_column(
        "monitor_settings",
        sa.Column("apis_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(FUNCTION)
    op.execute(APPLY_ROLES)


def downgrade():
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS monitored_apis_version_{name} ON monitored_apis")
    op.execute("DROP FUNCTION IF EXISTS autopay_monitored_apis_changed()")
    op.drop_column("monitor_settings", "apis_version")
