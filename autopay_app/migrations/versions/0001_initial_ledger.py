"""The ledger: eight entities, enums, partitions, triggers and the payment_ledger view.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ENUMS = {
    "autonomy_level": ("PHASE1", "PHASE2", "PHASE3"),
    "api_type": ("MARKET_DATA", "KNOWLEDGE_DATA"),
    "request_status": ("PENDING", "PAYMENT_REQUIRED", "PAID", "FAILED", "ACCESSED"),
    "payment_currency": ("CASH", "USDC"),
    "payment_status": ("INITIATED", "SIGNED", "CONFIRMED", "VERIFIED", "FAILED"),
    "confirmation_status": ("PROCESSED", "CONFIRMED", "FINALIZED"),
    "retry_outcome": ("SUCCESS", "FAILURE"),
    "audit_event_type": (
        "PAYMENT_SUCCESS",
        "PAYMENT_FAILURE",
        "LOW_BALANCE",
        "NETWORK_ISSUE",
        "CIRCUIT_BREAKER",
        "API_ACCESS",
        "PAYMENT_STATUS",
        "AGENT_DECISION",
    ),
    "audit_severity": ("INFO", "WARNING", "ERROR"),
    "error_category": (
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
    ),
}

TABLES = (
    "agents",
    "api_requests",
    "payments",
    "transaction_logs",
    "wallet_balances",
    "retry_attempts",
    "audit_events",
    "error_classifications",
)


def enum(name):
    return postgresql.ENUM(*ENUMS[name], name=name, create_type=False)


def uuid_pk():
    return sa.Column(
        "id",
        postgresql.UUID(as_uuid=True),
        server_default=sa.text("gen_random_uuid()"),
        nullable=False,
    )


def stamps():
    return [
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
    ]


MONEY = sa.Numeric(18, 9)


def fk(table, column, target, ondelete, nullable=False):
    return sa.Column(
        column,
        postgresql.UUID(as_uuid=True),
        sa.ForeignKey(f"{target}.id", ondelete=ondelete, name=f"fk_{table}_{column}_{target}"),
        nullable=nullable,
    )


def create_enums():
    bind = op.get_bind()
    for name, values in ENUMS.items():
        postgresql.ENUM(*values, name=name).create(bind, checkfirst=False)


def create_tables():
    op.create_table(
        "agents",
        uuid_pk(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("autonomy_level", enum("autonomy_level"), nullable=False),
        sa.Column("wallet_address", sa.String(44), nullable=False),
        sa.Column("session_token_hash", sa.LargeBinary(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("balance_threshold", MONEY, server_default=sa.text("0.01"), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        *stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint("name", name="uq_agents_name"),
    )
    op.create_index("ix_agents_wallet_address", "agents", ["wallet_address"])

    op.create_table(
        "api_requests",
        uuid_pk(),
        fk("api_requests", "agent_id", "agents", "RESTRICT"),
        sa.Column("endpoint", sa.String(255), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("method", sa.String(8), server_default="GET", nullable=False),
        sa.Column("api_type", enum("api_type"), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("x402_instructions", postgresql.JSONB(), nullable=True),
        sa.Column("request_payload", postgresql.JSONB(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(), nullable=True),
        sa.Column("data_accessed", postgresql.JSONB(), nullable=True),
        sa.Column("status", enum("request_status"), server_default="PENDING", nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        *stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_api_requests"),
    )
    op.create_index("ix_api_requests_agent_id_endpoint", "api_requests", ["agent_id", "endpoint"])
    op.create_index(
        "ix_api_requests_agent_id_status_created_at",
        "api_requests",
        ["agent_id", "status", "created_at"],
    )
    op.create_index(
        "ix_api_requests_x402_instructions",
        "api_requests",
        ["x402_instructions"],
        postgresql_using="gin",
    )

    op.create_table(
        "payments",
        uuid_pk(),
        fk("payments", "api_request_id", "api_requests", "RESTRICT"),
        fk("payments", "agent_id", "agents", "RESTRICT"),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", enum("payment_currency"), nullable=False),
        sa.Column("facilitator_url", sa.String(255), nullable=True),
        sa.Column("payment_hash", sa.String(88), nullable=True),
        sa.Column("status", enum("payment_status"), server_default="INITIATED", nullable=False),
        sa.Column("verification_callback", postgresql.JSONB(), nullable=True),
        sa.Column("mainnet_flag", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("network", sa.String(64), nullable=True),
        sa.Column("asset_mint", sa.String(44), nullable=True),
        sa.Column("amount_atomic", sa.Numeric(20, 0), nullable=True),
        sa.Column("pay_to", sa.String(44), nullable=True),
        sa.Column("payer_signature", sa.String(88), nullable=True),
        sa.Column("memo", sa.String(64), nullable=True),
        sa.Column("signed_transaction", sa.Text(), nullable=True),
        sa.Column("last_valid_block_height", sa.BigInteger(), nullable=True),
        sa.Column("payment_identifier", sa.String(128), nullable=True),
        sa.Column("x402_version", sa.SmallInteger(), nullable=True),
        *stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("payment_hash", name="uq_payments_payment_hash"),
        sa.UniqueConstraint("payer_signature", name="uq_payments_payer_signature"),
        sa.CheckConstraint("amount >= 0", name="ck_payments_amount_not_negative"),
    )
    op.create_index("ix_payments_api_request_id", "payments", ["api_request_id"])
    op.create_index("ix_payments_memo", "payments", ["memo"])
    op.create_index(
        "ix_payments_agent_id_currency_created_at",
        "payments",
        ["agent_id", "currency", "created_at"],
    )
    op.create_index("ix_payments_status_created_at", "payments", ["status", "created_at"])

    op.create_table(
        "transaction_logs",
        uuid_pk(),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        fk("transaction_logs", "payment_id", "payments", "RESTRICT"),
        sa.Column("solana_tx_metadata", postgresql.JSONB(), nullable=False),
        sa.Column("confirmation_status", enum("confirmation_status"), nullable=False),
        sa.Column("gas_fees", MONEY, nullable=True),
        sa.Column("is_duplicate", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", "created_at", name="pk_transaction_logs"),
        postgresql_partition_by="RANGE (created_at)",
    )
    op.create_index(
        "ix_transaction_logs_payment_id_created_at",
        "transaction_logs",
        ["payment_id", sa.text("created_at DESC")],
    )

    op.create_table(
        "wallet_balances",
        uuid_pk(),
        fk("wallet_balances", "agent_id", "agents", "CASCADE"),
        sa.Column("wallet_address", sa.String(44), nullable=False),
        sa.Column("balance_sol", MONEY, server_default=sa.text("0"), nullable=False),
        sa.Column("balance_cash", MONEY, server_default=sa.text("0"), nullable=False),
        sa.Column("balance_usdc", MONEY, server_default=sa.text("0"), nullable=False),
        sa.Column("threshold", MONEY, nullable=False),
        sa.Column("last_checked", sa.DateTime(timezone=True), nullable=False),
        sa.Column("low_balance_event", sa.Boolean(), server_default=sa.false(), nullable=False),
        *stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_wallet_balances"),
        sa.UniqueConstraint("agent_id", "wallet_address", name="uq_wallet_balances_agent_wallet"),
    )
    op.create_index(
        "ix_wallet_balances_agent_id_last_checked", "wallet_balances", ["agent_id", "last_checked"]
    )

    op.create_table(
        "retry_attempts",
        uuid_pk(),
        fk("retry_attempts", "api_request_id", "api_requests", "CASCADE", nullable=True),
        fk("retry_attempts", "payment_id", "payments", "CASCADE", nullable=True),
        sa.Column("attempt_number", sa.Integer(), nullable=False),
        sa.Column("backoff_delay", sa.Interval(), nullable=False),
        sa.Column("outcome", enum("retry_outcome"), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        *stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_retry_attempts"),
        sa.CheckConstraint(
            "attempt_number BETWEEN 1 AND 3", name="ck_retry_attempts_attempt_number_range"
        ),
        sa.CheckConstraint(
            "api_request_id IS NOT NULL OR payment_id IS NOT NULL",
            name="ck_retry_attempts_has_subject",
        ),
    )
    op.create_index("ix_retry_attempts_api_request_id", "retry_attempts", ["api_request_id"])
    op.create_index("ix_retry_attempts_payment_id", "retry_attempts", ["payment_id"])

    op.create_table(
        "audit_events",
        uuid_pk(),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        fk("audit_events", "agent_id", "agents", "RESTRICT"),
        sa.Column("event_type", enum("audit_event_type"), nullable=False),
        sa.Column("related_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("details", postgresql.JSONB(), nullable=True),
        sa.Column("severity", enum("audit_severity"), server_default="INFO", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", "created_at", name="pk_audit_events"),
        postgresql_partition_by="RANGE (created_at)",
    )
    op.create_index(
        "ix_audit_events_agent_id_created_at",
        "audit_events",
        ["agent_id", sa.text("created_at DESC")],
    )
    op.create_index(
        "ix_audit_events_type_severity_created_at",
        "audit_events",
        ["event_type", "severity", sa.text("created_at DESC")],
    )
    op.create_index(
        "ix_audit_events_details_fts",
        "audit_events",
        [sa.text("to_tsvector('simple'::regconfig, details)")],
        postgresql_using="gin",
    )
    op.create_index("ix_audit_events_related_id", "audit_events", ["related_id"])

    op.create_table(
        "error_classifications",
        uuid_pk(),
        fk("error_classifications", "agent_id", "agents", "CASCADE", nullable=True),
        fk("error_classifications", "api_request_id", "api_requests", "CASCADE", nullable=True),
        fk("error_classifications", "payment_id", "payments", "CASCADE", nullable=True),
        fk("error_classifications", "retry_attempt_id", "retry_attempts", "CASCADE", nullable=True),
        sa.Column("category", enum("error_category"), nullable=False),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("x402_reason", sa.String(128), nullable=True),
        sa.Column("details", postgresql.JSONB(), nullable=True),
        *stamps(),
        sa.PrimaryKeyConstraint("id", name="pk_error_classifications"),
        sa.CheckConstraint(
            "num_nonnulls(api_request_id, payment_id, retry_attempt_id) >= 1",
            name="ck_error_classifications_has_subject",
        ),
    )
    for column in ("agent_id", "api_request_id", "payment_id", "retry_attempt_id"):
        op.create_index(f"ix_error_classifications_{column}", "error_classifications", [column])
    op.create_index(
        "ix_error_classifications_category_created_at",
        "error_classifications",
        ["category", "created_at"],
    )


FUNCTIONS = r"""
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$;

-- audit_events is append-only. Only the maintenance path (retention, moving rows
-- out of the default partition) may delete, by setting autopay.maintenance locally.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('autopay.maintenance', true), '') = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION autopay_partition_name(parent text, month_start date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT parent || '_p' || to_char(month_start, 'YYYYMM') $$;

-- Create the monthly partition of parent holding month_start, moving any rows the
-- default partition already holds for that month. Returns true when created.
CREATE FUNCTION autopay_ensure_partition(parent text, month_start date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    child text := autopay_partition_name(parent, date_trunc('month', month_start)::date);
    lo timestamptz := (date_trunc('month', month_start)::timestamp AT TIME ZONE 'UTC');
    hi timestamptz := ((date_trunc('month', month_start) + interval '1 month')::timestamp
                       AT TIME ZONE 'UTC');
    strays boolean;
BEGIN
    IF to_regclass(child) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE created_at >= %L AND created_at < %L)',
                   parent || '_default', lo, hi) INTO strays;
    IF strays THEN
        PERFORM set_config('autopay.maintenance', 'on', true);
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       child, parent);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE created_at >= %L AND created_at < %L '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved',
                       parent || '_default', lo, hi, child);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       parent, child, lo, hi);
        PERFORM set_config('autopay.maintenance', '', true);
    ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       child, parent, lo, hi);
    END IF;
    IF parent = 'audit_events' THEN
        EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()', child);
    END IF;
    RETURN true;
END $$;

-- Create the partitions of the current month and the next months_ahead months.
CREATE FUNCTION autopay_create_partitions(months_ahead integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    parent text;
    i integer;
    made integer := 0;
BEGIN
    FOREACH parent IN ARRAY ARRAY['audit_events', 'transaction_logs'] LOOP
        FOR i IN 0..months_ahead LOOP
            IF autopay_ensure_partition(parent,
                   (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date)
            THEN
                made := made + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN made;
END $$;

-- Drop the monthly partitions of parent that ended before now() - keep, and delete
-- expired rows that sit in its default partition. Returns the dropped partitions.
CREATE FUNCTION autopay_apply_retention(parent text, keep interval) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    cutoff timestamptz := now() - keep;
    child record;
BEGIN
    PERFORM set_config('autopay.maintenance', 'on', true);
    FOR child IN
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent::regclass AND c.relname ~ '_p[0-9]{6}$'
          AND ((to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month')::timestamp
               AT TIME ZONE 'UTC') <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', parent, child.relname);
        EXECUTE format('DROP TABLE %I', child.relname);
        RETURN NEXT child.relname;
    END LOOP;
    EXECUTE format('DELETE FROM %I WHERE created_at < %L', parent || '_default', cutoff);
    PERFORM set_config('autopay.maintenance', '', true);
END $$;
"""

PAYMENT_LEDGER_VIEW = """
CREATE VIEW payment_ledger AS
SELECT p.id AS payment_id, p.agent_id, a.name AS agent_name, a.wallet_address,
       p.api_request_id, r.endpoint, r.url, r.api_type, r.status AS request_status,
       r.http_status, r.latency_ms,
       p.amount, p.currency, p.status AS payment_status, p.payment_hash, p.payer_signature,
       p.facilitator_url, p.network, p.asset_mint, p.pay_to, p.mainnet_flag,
       p.created_at, p.updated_at,
       tl.id AS transaction_log_id, tl.confirmation_status, tl.gas_fees,
       tl.created_at AS logged_at
FROM payments p
JOIN agents a ON a.id = p.agent_id
JOIN api_requests r ON r.id = p.api_request_id
LEFT JOIN LATERAL (
    SELECT t.id, t.confirmation_status, t.gas_fees, t.created_at
    FROM transaction_logs t WHERE t.payment_id = p.id
    ORDER BY t.created_at DESC LIMIT 1
) tl ON true
"""


def upgrade():
    create_enums()
    create_tables()
    op.execute(FUNCTIONS)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_set_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION set_updated_at()"
        )
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
    )
    for parent in ("audit_events", "transaction_logs"):
        op.execute(f"CREATE TABLE {parent}_default PARTITION OF {parent} DEFAULT")
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events_default "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
    )
    op.execute("SELECT autopay_create_partitions(3)")
    op.execute(PAYMENT_LEDGER_VIEW)


def downgrade():
    op.execute("DROP VIEW IF EXISTS payment_ledger")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    for fn in (
        "autopay_apply_retention(text, interval)",
        "autopay_create_partitions(integer)",
        "autopay_ensure_partition(text, date)",
        "autopay_partition_name(text, date)",
        "audit_events_append_only()",
        "set_updated_at()",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    for name in reversed(list(ENUMS)):
        op.execute(f"DROP TYPE IF EXISTS {name}")
