"""Database roles: an owner, the application and maintenance; audit_events stays append-only.

Roles (cluster-wide, all NOLOGIN):

- ``autopay_owner`` owns every ledger table, partition, view, type and function.
- ``autopay_app`` is what the running application becomes on connect
  (``SET ROLE``, see ``autopay_app/db_roles.py``): SELECT/INSERT/UPDATE/DELETE on
  the ledger tables, but only SELECT/INSERT on ``audit_events`` and SELECT on
  partitions. It owns nothing, so it cannot disable the append-only triggers.
- ``autopay_maintenance`` (a member of ``autopay_owner``) runs retention and
  partition creation. ``autopay_ensure_partition`` and ``autopay_apply_retention``
  are SECURITY DEFINER functions owned by it, and the append-only trigger lets a
  DELETE through only when ``current_user`` is this role *and* the function set
  ``autopay.maintenance`` for its transaction: the setting alone is not enough.

``autopay_apply_roles()`` (re)applies ownership and grants to every object of
the schema; later migrations that add tables call it last.

Roles are shared by every database of the server (the test suite makes many
databases from one migrated template), so the upgrade creates them only when
missing and the downgrade keeps them: it gives this database's objects back to
the migrating user and revokes what the roles were granted here (``DROP OWNED``
acts on the current database only), so other databases using the roles are
untouched. Drop the roles by hand once no database uses them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ROLES = ("autopay_owner", "autopay_app", "autopay_maintenance")

CREATE_ROLES = r"""
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['autopay_owner', 'autopay_app', 'autopay_maintenance'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it a moment ago
            END;
        END IF;
    END LOOP;
    IF NOT pg_has_role('autopay_maintenance', 'autopay_owner', 'MEMBER') THEN
        GRANT autopay_owner TO autopay_maintenance;
    END IF;
    -- A migrating user that is not a superuser needs the roles to hand objects
    -- over (ALTER ... OWNER) and to SET ROLE to them when the app connects.
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        FOREACH r IN ARRAY ARRAY['autopay_owner', 'autopay_app', 'autopay_maintenance'] LOOP
            IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
                EXECUTE format('GRANT %I TO %I', r, current_user);
            END IF;
        END LOOP;
    END IF;
END $$;
"""

FUNCTIONS = r"""
-- audit_events is append-only. Only the maintenance role, inside the maintenance
-- functions (which set autopay.maintenance for their transaction), may delete.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = 'autopay_maintenance'
       AND coalesce(current_setting('autopay.maintenance', true), '') = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- Grants of a partition of parent (reads only: writes go through the parent).
CREATE OR REPLACE FUNCTION autopay_grant_partition(parent text, child text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I OWNER TO autopay_owner', child);
    EXECUTE format('REVOKE ALL ON %I FROM autopay_app', child);
    EXECUTE format('GRANT SELECT ON %I TO autopay_app', child);
END $$;

CREATE OR REPLACE FUNCTION autopay_ensure_partition(parent text, month_start date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    child text := autopay_partition_name(parent, date_trunc('month', month_start)::date);
    lo timestamptz := (date_trunc('month', month_start)::timestamp AT TIME ZONE 'UTC');
    hi timestamptz := ((date_trunc('month', month_start) + interval '1 month')::timestamp
                       AT TIME ZONE 'UTC');
    strays boolean;
BEGIN
    IF parent NOT IN ('audit_events', 'transaction_logs') THEN
        RAISE EXCEPTION '% is not a partitioned ledger table', parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
    PERFORM autopay_grant_partition(parent, child);
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION autopay_apply_retention(parent text, keep interval) RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cutoff timestamptz := now() - keep;
    child record;
BEGIN
    IF parent NOT IN ('audit_events', 'transaction_logs') THEN
        RAISE EXCEPTION '% is not a partitioned ledger table', parent
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
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

-- (Re)apply ownership and grants to every object of the ledger's schema.
CREATE OR REPLACE FUNCTION autopay_apply_roles() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    obj record;
BEGIN
    FOR obj IN
        SELECT c.relname, c.relkind, p.inhparent::regclass::text AS parent
        FROM pg_class c LEFT JOIN pg_inherits p ON p.inhrelid = c.oid
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND c.relname <> 'alembic_version'
        ORDER BY c.relkind DESC, c.relname
    LOOP
        IF obj.parent IS NOT NULL THEN
            PERFORM autopay_grant_partition(obj.parent, obj.relname);
            CONTINUE;
        END IF;
        EXECUTE format('ALTER %s %I OWNER TO autopay_owner',
                       CASE obj.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                        WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, obj.relname);
        IF obj.relkind = 'S' THEN
            EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %I TO autopay_app', obj.relname);
        ELSIF obj.relkind IN ('v', 'm') THEN
            EXECUTE format('GRANT SELECT ON %I TO autopay_app', obj.relname);
        ELSIF obj.relname = 'audit_events' THEN
            EXECUTE format('REVOKE ALL ON %I FROM autopay_app', obj.relname);
            EXECUTE format('GRANT SELECT, INSERT ON %I TO autopay_app', obj.relname);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO autopay_app',
                           obj.relname);
        END IF;
    END LOOP;
    GRANT SELECT ON alembic_version TO autopay_app;
    -- The maintenance functions create partitions as a member of autopay_owner.
    GRANT USAGE, CREATE ON SCHEMA public TO autopay_owner;
    GRANT USAGE ON SCHEMA public TO autopay_app, autopay_maintenance;
    FOR obj IN
        SELECT t.typname FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd')
    LOOP
        EXECUTE format('ALTER TYPE %I OWNER TO autopay_owner', obj.typname);
    END LOOP;
    FOR obj IN
        SELECT p.oid::regprocedure AS sig, p.proname, p.prosecdef FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO %I', obj.sig,
                       CASE WHEN obj.prosecdef THEN 'autopay_maintenance' ELSE 'autopay_owner' END);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', obj.sig);
        IF obj.proname IN ('autopay_ensure_partition', 'autopay_create_partitions',
                           'autopay_partition_name', 'set_updated_at',
                           'audit_events_append_only') THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO autopay_app, autopay_maintenance',
                           obj.sig);
        ELSIF obj.proname = 'autopay_apply_retention' THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO autopay_maintenance', obj.sig);
        END IF;
    END LOOP;
END $$;
"""

# Migration 0001's definitions, restored on downgrade.
FUNCTIONS_0001 = r"""
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('autopay.maintenance', true), '') = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION autopay_ensure_partition(parent text, month_start date) RETURNS boolean
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

CREATE OR REPLACE FUNCTION autopay_apply_retention(parent text, keep interval) RETURNS SETOF text
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


def upgrade():
    op.execute(CREATE_ROLES)
    op.execute(FUNCTIONS)
    op.execute("SELECT autopay_apply_roles()")
    op.execute("REVOKE ALL ON FUNCTION autopay_apply_roles() FROM PUBLIC")


def downgrade():
    # Give this database's objects back to the migrating user, then revoke what
    # the roles hold here; the roles themselves may serve other databases.
    op.execute("DROP FUNCTION IF EXISTS autopay_apply_roles()")
    op.execute("REASSIGN OWNED BY autopay_owner, autopay_maintenance TO CURRENT_USER")
    op.execute("DROP OWNED BY autopay_app, autopay_maintenance, autopay_owner")
    op.execute(FUNCTIONS_0001)
    op.execute("DROP FUNCTION IF EXISTS autopay_grant_partition(text, text)")
    op.execute(
        "DO $$ DECLARE f regprocedure; BEGIN "
        "FOR f IN SELECT p.oid::regprocedure FROM pg_proc p "
        "WHERE p.pronamespace = 'public'::regnamespace LOOP "
        "EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f); END LOOP; END $$"
    )
