"""A person's wallet pays too: top-ups and wallet-signed payments in the ledger.

- ``audit_event_type`` gains ``TOP_UP``: a person's wallet sent the agent funds
  (``details``: the payer's address, the signature, asset and amount).
- ``error_category`` gains ``WALLET_REFUSED``: the person's wallet refused to
  sign a payment, did not answer in time, or disconnected (nothing was paid).
- ``payments.payer_address``: the wallet that signed a payment when it is not
  the agent's own key (NULL: the agent's key signed).

Downgrade drops the column, turns TOP_UP events into AGENT_DECISION events
(their ``details`` keep the facts) and WALLET_REFUSED failures into
POLICY_DENIED, and rebuilds both enums without the values (PostgreSQL cannot
drop an enum value).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

EVENT_TYPES_0011 = (
    "PAYMENT_SUCCESS",
    "PAYMENT_FAILURE",
    "LOW_BALANCE",
    "NETWORK_ISSUE",
    "CIRCUIT_BREAKER",
    "API_ACCESS",
    "PAYMENT_STATUS",
    "AGENT_DECISION",
    "BACKUP",
    "REQUEST_STATUS",
)
CATEGORIES_0011 = (
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
    "SELLER_TIMEOUT",
    "RESPONSE_TOO_LARGE",
)
APPLY_ROLES = (
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'autopay_apply_roles') "
    "THEN PERFORM autopay_apply_roles(); END IF; END $$"
)


def upgrade():
    op.execute("ALTER TYPE audit_event_type ADD VALUE IF NOT EXISTS 'TOP_UP'")
    op.execute("ALTER TYPE error_category ADD VALUE IF NOT EXISTS 'WALLET_REFUSED'")
    op.add_column("payments", sa.Column("payer_address", sa.String(44), nullable=True))
    op.execute(APPLY_ROLES)


def _rebuild(type_name: str, table: str, column: str, values: tuple[str, ...], using: str) -> None:
    listed = ", ".join(f"'{v}'" for v in values)
    op.execute(f"ALTER TYPE {type_name} RENAME TO {type_name}_0014")
    op.execute(f"CREATE TYPE {type_name} AS ENUM ({listed})")
    op.execute(
        f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {type_name} USING ({using})::{type_name}"
    )
    op.execute(f"DROP TYPE {type_name}_0014")


def downgrade():
    op.drop_column("payments", "payer_address")
    _rebuild(
        "audit_event_type",
        "audit_events",
        "event_type",
        EVENT_TYPES_0011,
        "CASE event_type::text WHEN 'TOP_UP' THEN 'AGENT_DECISION' ELSE event_type::text END",
    )
    _rebuild(
        "error_category",
        "error_classifications",
        "category",
        CATEGORIES_0011,
        "CASE category::text WHEN 'WALLET_REFUSED' THEN 'POLICY_DENIED' ELSE category::text END",
    )
    op.execute(APPLY_ROLES)
