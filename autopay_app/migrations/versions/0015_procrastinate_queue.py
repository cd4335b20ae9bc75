"""The task queue: procrastinate's schema, in its own PostgreSQL schema ``procrastinate``.

The SQL is procrastinate 3.10.0's ``schema.sql``, kept beside the migrations
(``migrations/sql/procrastinate-3.10.0.sql``) so this revision creates the same
objects whatever procrastinate is installed later; a procrastinate upgrade that
changes the schema is a new revision applying its migration files.

Every procrastinate function gets ``search_path = procrastinate, pg_temp``: the
ledger's own transactions call ``procrastinate_defer_jobs_v1`` (a Phase 3
decision and its job commit together) with the ledger's search path, and the
queue's triggers run whoever fires them. procrastinate's own connections find
the tables through their search path (``autopay_app/tasks/queue.py``).

Roles (migration 0005): ``autopay_owner`` owns the schema and everything in it;
``autopay_app`` may use it (USAGE on the schema, SELECT/INSERT/UPDATE/DELETE on
the tables, their sequences, EXECUTE on the functions) and nothing more: it cannot
create, alter or drop anything there.

Downgrade drops the schema and everything in it (queued jobs included).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from pathlib import Path

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

SCHEMA = "procrastinate"
SQL_FILE = Path(__file__).resolve().parent.parent / "sql" / "procrastinate-3.10.0.sql"

OWNERSHIP = r"""
DO $$
DECLARE
    obj record;
BEGIN
    ALTER SCHEMA procrastinate OWNER TO autopay_owner;
    -- A table's serial and identity sequences follow it to its new owner.
    FOR obj IN
        SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = 'procrastinate'::regnamespace AND c.relkind = 'r'
    LOOP
        EXECUTE format('ALTER TABLE procrastinate.%I OWNER TO autopay_owner', obj.relname);
    END LOOP;
    FOR obj IN
        SELECT t.typname FROM pg_type t
        WHERE t.typnamespace = 'procrastinate'::regnamespace AND t.typtype IN ('e', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
    LOOP
        EXECUTE format('ALTER TYPE procrastinate.%I OWNER TO autopay_owner', obj.typname);
    END LOOP;
    FOR obj IN
        SELECT p.oid::regprocedure AS sig FROM pg_proc p
        WHERE p.pronamespace = 'procrastinate'::regnamespace
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = procrastinate, pg_temp', obj.sig);
        EXECUTE format('ALTER FUNCTION %s OWNER TO autopay_owner', obj.sig);
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', obj.sig);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO autopay_app', obj.sig);
    END LOOP;
    REVOKE ALL ON SCHEMA procrastinate FROM PUBLIC;
    GRANT USAGE ON SCHEMA procrastinate TO autopay_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA procrastinate TO autopay_app;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA procrastinate TO autopay_app;
END $$;
"""


def upgrade():
    bind = op.get_bind()
    path = bind.exec_driver_sql("SHOW search_path").scalar()
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    op.execute(f"SET search_path TO {SCHEMA}, pg_catalog")
    op.execute(SQL_FILE.read_text(encoding="utf-8"))
    op.execute(OWNERSHIP)
    bind.exec_driver_sql("SELECT set_config('search_path', %s, false)", (path,))


def downgrade():
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
