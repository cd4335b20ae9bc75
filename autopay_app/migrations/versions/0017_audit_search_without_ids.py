"""Audit full-text index: the status events' own ids are left out of the words.

Every status change writes an audit event (migration 0011), six per paid
request, and each one fed the GIN index of 0001 every string of its
``details``. The payment and request ids (``payment_id``, ``api_request_id``)
were most of them: the 'simple' parser splits a UUID into eight words, so a
payment event gave some 25 entries to the index, 16 of them pieces of its two
ids; the index was about half of what an audit event cost PostgreSQL.

The index now leaves out those two keys (``details - '{payment_id,api_request_id}'``)
and keeps every other string: a signature (``payment_hash``), the request's
URL and endpoint, a failure's message, category and reason, the actor, the
statuses, and whatever other events carry. Only the status triggers write
these two keys, and they are the row's ``related_id`` (its own id) or the
payment's request: a search for a whole id finds them through ``related_id``
(:func:`autopay_app.ledger.queries.audit_select`).

The index is rebuilt on every partition (a lock on ``audit_events`` for the
build). Downgrade rebuilds 0001's index.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEX = "ix_audit_events_details_fts"
SEARCHED = "to_tsvector('simple'::regconfig, details - '{payment_id,api_request_id}'::text[])"
SEARCHED_0001 = "to_tsvector('simple'::regconfig, details)"


def _rebuild(expression: str) -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute(f"CREATE INDEX {INDEX} ON audit_events USING gin ({expression})")


def upgrade():
    _rebuild(SEARCHED)


def downgrade():
    _rebuild(SEARCHED_0001)
