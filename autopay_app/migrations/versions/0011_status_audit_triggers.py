"""Status changes audit themselves: triggers on ``payments`` and ``api_requests``.

Every status a payment or a request takes (its first one on INSERT, then each
UPDATE that changes it) writes exactly one ``audit_events`` row in the same
statement, whatever wrote it: the ORM, the agent's single-statement hot path,
or psql. The application only says who acted and why, for its transaction:

- ``autopay.actor`` (``set_config('autopay.actor', 'agent:x', true)``), stored
  as ``details.actor``; unset, the actor is ``db:<session user>``;
- ``autopay.context``, a JSON object merged into ``details`` (a failure's
  ``category``, ``message``, ``x402_reason``, ...); the row's own facts
  (``from``, ``to``, amounts, ids) always win over it.

Event types: a payment entering VERIFIED is PAYMENT_SUCCESS, FAILED is
PAYMENT_FAILURE (ERROR), any other status PAYMENT_STATUS. A request entering
ACCESSED is API_ACCESS; FAILED is the failure's event by its category
(NETWORK_ISSUE, AGENT_DECISION, LOW_BALANCE as WARNING; PAYMENT_FAILURE as
ERROR for the rest); any other status REQUEST_STATUS (a new event type).

The functions run with the rights of whoever changes the row: the app role may
INSERT into ``audit_events`` (migration 0005), never UPDATE, DELETE or TRUNCATE.

Downgrade drops the triggers and the functions and removes REQUEST_STATUS from
the enum; rows already written with it become API_ACCESS (their ``details``
keep ``from``/``to``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FUNCTIONS = r"""
CREATE FUNCTION autopay_audit_payment_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := coalesce(nullif(current_setting('autopay.context', true), '')::jsonb, '{}');
    actor text := coalesce(nullif(current_setting('autopay.actor', true), ''),
                           'db:' || session_user);
BEGIN
    INSERT INTO audit_events (agent_id, event_type, severity, related_id, details)
    VALUES (
        NEW.agent_id,
        CASE NEW.status WHEN 'VERIFIED' THEN 'PAYMENT_SUCCESS'
                        WHEN 'FAILED' THEN 'PAYMENT_FAILURE'
                        ELSE 'PAYMENT_STATUS' END::audit_event_type,
        CASE NEW.status WHEN 'FAILED' THEN 'ERROR' ELSE 'INFO' END::audit_severity,
        NEW.id,
        ctx || jsonb_build_object(
            'payment_id', NEW.id,
            'api_request_id', NEW.api_request_id,
            'from', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status::text END,
            'to', NEW.status::text,
            'amount', NEW.amount::text,
            'currency', NEW.currency::text,
            'payment_hash', NEW.payment_hash,
            'actor', actor));
    RETURN NULL;
END $$;

CREATE FUNCTION autopay_audit_request_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := coalesce(nullif(current_setting('autopay.context', true), '')::jsonb, '{}');
    actor text := coalesce(nullif(current_setting('autopay.actor', true), ''),
                           'db:' || session_user);
    category text := coalesce(ctx ->> 'category', 'UNKNOWN');
    kind text := 'REQUEST_STATUS';
    level text := 'INFO';
    facts jsonb := jsonb_build_object(
        'api_request_id', NEW.id,
        'endpoint', NEW.endpoint,
        'url', NEW.url,
        'from', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status::text END,
        'to', NEW.status::text,
        'http_status', NEW.http_status,
        'actor', actor);
BEGIN
    IF NEW.status = 'ACCESSED' THEN
        kind := 'API_ACCESS';
        facts := facts || jsonb_build_object(
            'latency_ms', NEW.latency_ms,
            'payment_hash', (SELECT p.payment_hash FROM payments p
                             WHERE p.api_request_id = NEW.id AND p.payment_hash IS NOT NULL
                             ORDER BY p.created_at DESC LIMIT 1));
    ELSIF NEW.status = 'FAILED' THEN
        kind := CASE
            WHEN category IN ('NETWORK', 'RPC_TIMEOUT', 'SELLER_TIMEOUT', 'RATE_LIMITED',
                              'SELLER_5XX') THEN 'NETWORK_ISSUE'
            WHEN category = 'POLICY_DENIED' THEN 'AGENT_DECISION'
            WHEN category = 'INSUFFICIENT_FUNDS' THEN 'LOW_BALANCE'
            ELSE 'PAYMENT_FAILURE' END;
        level := CASE WHEN kind = 'PAYMENT_FAILURE' THEN 'ERROR' ELSE 'WARNING' END;
        facts := facts || jsonb_build_object('category', category);
    END IF;
    INSERT INTO audit_events (agent_id, event_type, severity, related_id, details)
    VALUES (NEW.agent_id, kind::audit_event_type, level::audit_severity, NEW.id, ctx || facts);
    RETURN NULL;
END $$;

CREATE TRIGGER payments_audit_insert AFTER INSERT ON payments
FOR EACH ROW EXECUTE FUNCTION autopay_audit_payment_status();
CREATE TRIGGER payments_audit_status AFTER UPDATE OF status ON payments
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION autopay_audit_payment_status();
CREATE TRIGGER api_requests_audit_insert AFTER INSERT ON api_requests
FOR EACH ROW EXECUTE FUNCTION autopay_audit_request_status();
CREATE TRIGGER api_requests_audit_status AFTER UPDATE OF status ON api_requests
FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION autopay_audit_request_status();
"""

APPLY_ROLES = (
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'autopay_apply_roles') "
    "THEN PERFORM autopay_apply_roles(); END IF; END $$"
)

OLD_EVENT_TYPES = (
    "PAYMENT_SUCCESS",
    "PAYMENT_FAILURE",
    "LOW_BALANCE",
    "NETWORK_ISSUE",
    "CIRCUIT_BREAKER",
    "API_ACCESS",
    "PAYMENT_STATUS",
    "AGENT_DECISION",
    "BACKUP",
)


def upgrade():
    # Usable once this transaction commits; until then only the functions name it (as text).
    op.execute("ALTER TYPE audit_event_type ADD VALUE IF NOT EXISTS 'REQUEST_STATUS'")
    op.execute(FUNCTIONS)
    op.execute(APPLY_ROLES)


def downgrade():
    for trigger, table in (
        ("payments_audit_insert", "payments"),
        ("payments_audit_status", "payments"),
        ("api_requests_audit_insert", "api_requests"),
        ("api_requests_audit_status", "api_requests"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS autopay_audit_payment_status()")
    op.execute("DROP FUNCTION IF EXISTS autopay_audit_request_status()")
    values = ", ".join(f"'{v}'" for v in OLD_EVENT_TYPES)
    op.execute("ALTER TYPE audit_event_type RENAME TO audit_event_type_0011")
    op.execute(f"CREATE TYPE audit_event_type AS ENUM ({values})")
    op.execute(
        "ALTER TABLE audit_events ALTER COLUMN event_type TYPE audit_event_type USING "
        "(CASE event_type::text WHEN 'REQUEST_STATUS' THEN 'API_ACCESS' "
        "ELSE event_type::text END)::audit_event_type"
    )
    op.execute("DROP TYPE audit_event_type_0011")
    op.execute(APPLY_ROLES)
