"""The reservation in one statement: ``autopay_reserve_payment()``.

Reserving a payment took the agent's spend lock, then read the caps and windows
and inserted the row, then wrote the signed bytes: with BEGIN and COMMIT, five
round trips and a second (non-HOT) write of the row, its foreign keys checked
again and one more audit event. The lock cannot simply join the read in one
plain statement: a READ COMMITTED statement reads with the snapshot it took
before it waited for the lock, so it would miss a reservation committed while
it waited, and two payments could pass a cap together.

This function is that statement. It takes the lock, then reads (a VOLATILE
function takes a fresh snapshot for each query it runs: the read sees every
reservation committed before the lock was granted), decides as
:func:`autopay_app.ledger.spend.checked` does (an unsettled earlier payment for
the URL, the per-request, hourly and daily caps, the API's own caps), and only
then inserts the row: INITIATED, or SIGNED at once when the signed bytes are
given (the agent's own key signs before the lock). It returns what it read and
whether it reserved; the application words the refusal. ``flush`` false: its
transaction's commit does not wait for the WAL flush (the caller's next durable
commit flushes it before anything is sent).

``autopay_apply_roles()`` grants the app role EXECUTE on it (migration 0005's
definition, with this function added to its list).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

RESERVE = r"""
CREATE FUNCTION autopay_reserve_payment(
    p_payment_id uuid, p_request_id uuid, p_agent_id uuid, p_amount numeric,
    p_currency payment_currency, p_amount_atomic numeric, p_asset_mint text, p_pay_to text,
    p_network text, p_facilitator_url text, p_x402_version smallint,
    p_endpoint text, p_url text, p_actor text, p_flush boolean,
    p_payer_signature text, p_memo text, p_signed_transaction text,
    p_last_valid_block_height bigint, p_payment_identifier text, p_payer_address text,
    OUT per_request_cap numeric, OUT hourly_cap numeric, OUT daily_cap numeric,
    OUT api_caps jsonb, OUT hour numeric, OUT day numeric, OUT api_hour numeric,
    OUT api_day numeric, OUT unsettled boolean, OUT reserved boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    caps jsonb;
    hour_from timestamptz := date_trunc('minute', now() - interval '1 hour');
    day_from timestamptz := date_trunc('minute', now() - interval '1 day');
BEGIN
    reserved := false;
    PERFORM pg_advisory_xact_lock(hashtextextended('autopay-spend:' || p_agent_id::text, 0)),
            set_config('autopay.actor', p_actor, true);
    IF NOT p_flush THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    -- Each query below takes its snapshot now, after the lock was granted.
    SELECT s.per_request_cap, s.hourly_cap, s.daily_cap, s.api_caps
    INTO per_request_cap, hourly_cap, daily_cap, api_caps
    FROM spend_policies s WHERE s.agent_id = p_agent_id;
    IF NOT FOUND THEN
        RETURN;  -- no policy: refused
    END IF;
    SELECT coalesce(sum(m.amount) FILTER (WHERE m.minute >= hour_from), 0),
           coalesce(sum(m.amount), 0)
    INTO hour, day
    FROM spend_minutes m WHERE m.agent_id = p_agent_id AND m.minute >= day_from;
    IF api_caps ? p_endpoint THEN
        SELECT coalesce(sum(m.amount) FILTER (WHERE m.minute >= hour_from), 0),
               coalesce(sum(m.amount), 0)
        INTO api_hour, api_day
        FROM spend_minutes m
        WHERE m.agent_id = p_agent_id AND m.minute >= day_from AND m.endpoint = p_endpoint;
    END IF;
    unsettled := EXISTS (
        SELECT 1 FROM payments p JOIN api_requests r ON r.id = p.api_request_id
        WHERE p.agent_id = p_agent_id AND p.status = 'SIGNED' AND r.url = p_url
          AND r.status = 'FAILED');
    caps := CASE WHEN jsonb_typeof(api_caps -> p_endpoint) = 'object'
                 THEN api_caps -> p_endpoint ELSE '{}' END;
    IF unsettled OR p_amount > per_request_cap OR hour + p_amount > hourly_cap
       OR day + p_amount > daily_cap
       OR coalesce(api_hour + p_amount > (caps ->> 'hourly')::numeric, false)
       OR coalesce(api_day + p_amount > (caps ->> 'daily')::numeric, false) THEN
        RETURN;
    END IF;
    INSERT INTO payments (id, api_request_id, agent_id, amount, currency, amount_atomic,
                          asset_mint, pay_to, network, facilitator_url, x402_version, status,
                          payer_signature, memo, signed_transaction, last_valid_block_height,
                          payment_identifier, payer_address)
    VALUES (p_payment_id, p_request_id, p_agent_id, p_amount, p_currency, p_amount_atomic,
            p_asset_mint, p_pay_to, p_network, p_facilitator_url, p_x402_version,
            CASE WHEN p_signed_transaction IS NULL THEN 'INITIATED'
                 ELSE 'SIGNED' END::payment_status,
            p_payer_signature, p_memo, p_signed_transaction, p_last_valid_block_height,
            p_payment_identifier, p_payer_address);
    reserved := true;
END $$;
"""

SIGNATURE = (
    "autopay_reserve_payment(uuid, uuid, uuid, numeric, payment_currency, numeric, text, "
    "text, text, text, smallint, text, text, text, boolean, text, text, text, bigint, "
    "text, text)"
)


def _apply_roles_0005() -> str:
    """Migration 0005's ``autopay_apply_roles()`` (the last function it defines)."""
    path = Path(__file__).resolve().parent / "0005_database_roles.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions: str = module.FUNCTIONS
    start = functions.index("CREATE OR REPLACE FUNCTION autopay_apply_roles()")
    return functions[start:]


GRANTED = "'audit_events_append_only') THEN"


def _apply_roles() -> str:
    """0005's definition with this migration's function among those the app may run."""
    original = _apply_roles_0005()
    assert GRANTED in original
    return original.replace(GRANTED, "'audit_events_append_only', 'autopay_reserve_payment') THEN")


APPLY_ROLES = (
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'autopay_apply_roles') "
    "THEN PERFORM autopay_apply_roles(); END IF; END $$"
)


def _roles_exist() -> bool:
    bind = op.get_bind()
    found = bind.exec_driver_sql("SELECT 1 FROM pg_proc WHERE proname = 'autopay_apply_roles'")
    return found.first() is not None


def upgrade():
    op.execute(RESERVE)
    if _roles_exist():
        op.execute(_apply_roles())
        op.execute(APPLY_ROLES)


def downgrade():
    op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
    if _roles_exist():
        op.execute(_apply_roles_0005())
