"""Baseline: the store's schema as the last release before migrations (2026-12-01) made it at start.

Creates what is missing and leaves what is there: an empty database gets every table; a database made by a release
before migrations already has them (that release created missing tables, columns and indexes at every start), so it
is adopted as it is, with its rows, and carries on from here.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())

    def table(name: str, *elements: Any, indexes: Sequence[tuple[str, list[str]]] = (), **options: Any) -> None:
        if name in existing:
            return
        op.create_table(name, *elements, **options)
        for index, columns in indexes:
            op.create_index(index, name, columns)

    table("adapter_ledger",
          sa.Column("channel", sa.String(length=30), nullable=False),
          sa.Column("delivery_id", sa.String(length=64), nullable=False),
          sa.Column("external_ref", sa.String(length=200), nullable=True),
          sa.Column("facts", sa.Text(), nullable=False),
          sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
          sa.PrimaryKeyConstraint("channel", "delivery_id"),
          indexes=[("ix_ledger_external_ref", ["channel", "external_ref"])])
    table("archived_index_nos",
          sa.Column("index_no", sa.String(length=80), nullable=False),
          sa.PrimaryKeyConstraint("index_no"))
    table("audit_log",
          sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
          sa.Column("at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("actor_id", sa.String(length=40), nullable=False),
          sa.Column("actor_name", sa.String(length=100), nullable=False),
          sa.Column("actor_kind", sa.String(length=20), nullable=False),
          sa.Column("action", sa.String(length=40), nullable=False),
          sa.Column("target", sa.String(length=60), nullable=False),
          sa.Column("detail", sa.Text(), nullable=False),
          sa.Column("client", sa.String(length=64), nullable=True),
          sa.Column("prev_hash", sa.String(length=64), nullable=False),
          sa.Column("hash", sa.String(length=64), nullable=False),
          sa.PrimaryKeyConstraint("seq"),
          sqlite_autoincrement=True,
          indexes=[("ix_audit_log_action", ["action"]),
                   ("ix_audit_log_actor_id", ["actor_id"]),
                   ("ix_audit_log_at", ["at"]),
                   ("ix_audit_log_target", ["target"])])
    table("channel_pauses",
          sa.Column("channel", sa.String(length=30), nullable=False),
          sa.Column("paused_by", sa.String(length=120), nullable=False),
          sa.Column("reason", sa.Text(), nullable=False),
          sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
          sa.PrimaryKeyConstraint("channel"))
    table("console_sessions",
          sa.Column("id_hash", sa.String(length=64), nullable=False),
          sa.Column("principal_id", sa.String(length=40), nullable=False),
          sa.Column("csrf", sa.String(length=64), nullable=False),
          sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
          sa.PrimaryKeyConstraint("id_hash"),
          indexes=[("ix_console_sessions_last_seen", ["last_seen"])])
    table("dead_letters",
          sa.Column("event_id", sa.String(length=64), nullable=False),
          sa.Column("kind", sa.String(length=20), nullable=False),
          sa.Column("publication_id", sa.String(length=40), nullable=True),
          sa.Column("version", sa.Integer(), nullable=True),
          sa.Column("channel", sa.String(length=30), nullable=True),
          sa.Column("recipient", sa.String(length=40), nullable=True),
          sa.Column("reason", sa.Text(), nullable=False),
          sa.Column("event", sa.Text(), nullable=False),
          sa.Column("at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True),
          sa.Column("requeued_by", sa.String(length=120), nullable=True),
          sa.PrimaryKeyConstraint("event_id"),
          indexes=[("ix_dead_letters_open", ["channel", "requeued_at", "at"]),
                   ("ix_dead_letters_publication", ["publication_id"])])
    table("deliveries",
          sa.Column("publication_id", sa.String(length=40), nullable=False),
          sa.Column("channel", sa.String(length=30), nullable=False),
          sa.Column("version", sa.Integer(), nullable=False),
          sa.Column("status", sa.String(length=20), nullable=False),
          sa.Column("url", sa.Text(), nullable=True),
          sa.Column("detail", sa.Text(), nullable=True),
          sa.Column("progress", sa.Integer(), nullable=True),
          sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
          sa.PrimaryKeyConstraint("publication_id", "channel"),
          indexes=[("ix_deliveries_channel_status", ["channel", "status"]), ("ix_deliveries_updated", ["updated_at"])])
    table("delivery_outcomes",
          sa.Column("event_id", sa.String(length=64), nullable=False),
          sa.Column("channel", sa.String(length=30), nullable=False),
          sa.Column("outcome", sa.String(length=20), nullable=False),
          sa.Column("latency_ms", sa.Integer(), nullable=True),
          sa.Column("detail", sa.Text(), nullable=True),
          sa.Column("at", sa.DateTime(timezone=True), nullable=False),
          sa.PrimaryKeyConstraint("event_id"),
          indexes=[("ix_delivery_outcomes_channel_at", ["channel", "at"])])
    table("expiries",
          sa.Column("publication_id", sa.String(length=40), nullable=False),
          sa.Column("expires_on", sa.Date(), nullable=False),
          sa.PrimaryKeyConstraint("publication_id"),
          indexes=[("ix_expiries_expires_on", ["expires_on"])])
    table("idempotency",
          sa.Column("principal", sa.String(length=40), nullable=False),
          sa.Column("key", sa.String(length=200), nullable=False),
          sa.Column("request_hash", sa.String(length=64), nullable=False),
          sa.Column("status_code", sa.Integer(), nullable=False),
          sa.Column("response", sa.Text(), nullable=False),
          sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
          sa.PrimaryKeyConstraint("principal", "key"))
    table("index_sequences",
          sa.Column("publisher_code", sa.String(length=40), nullable=False),
          sa.Column("year", sa.Integer(), nullable=False),
          sa.Column("last", sa.Integer(), nullable=False),
          sa.PrimaryKeyConstraint("publisher_code", "year"))
    table("outbox",
          sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
          sa.Column("topic", sa.String(length=100), nullable=False),
          sa.Column("key", sa.String(length=200), nullable=False),
          sa.Column("event", sa.Text(), nullable=False),
          sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
          sa.PrimaryKeyConstraint("seq"),
          sqlite_autoincrement=True)
    table("publications",
          sa.Column("id", sa.String(length=40), nullable=False),
          sa.Column("department", sa.String(length=40), nullable=False),
          sa.Column("kind", sa.String(length=20), nullable=False),
          sa.Column("title", sa.Text(), nullable=False),
          sa.Column("index_no", sa.String(length=60), nullable=False),
          sa.Column("category", sa.String(length=50), nullable=False),
          sa.Column("version", sa.Integer(), nullable=False),
          sa.Column("status", sa.String(length=20), nullable=False),
          sa.Column("channels", sa.Text(), nullable=False),
          sa.Column("publish_at", sa.DateTime(timezone=True), nullable=True),
          sa.Column("released_version", sa.Integer(), nullable=True),
          sa.Column("retracted", sa.Boolean(), nullable=False),
          sa.Column("doc", sa.Text(), nullable=False),
          sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("doc_no", sa.String(length=100), nullable=True),
          sa.Column("publish_date", sa.Date(), nullable=True),
          sa.Column("validity", sa.String(length=10), nullable=True),
          sa.Column("related_ids", sa.Text(), nullable=True),
          sa.PrimaryKeyConstraint("id"),
          sa.UniqueConstraint("index_no"),
          indexes=[("ix_publications_category_date", ["category", "publish_date"]),
                   ("ix_publications_created_at", ["created_at"]),
                   ("ix_publications_created_id", ["created_at", "id"]),
                   ("ix_publications_department", ["department"]),
                   ("ix_publications_department_created", ["department", "created_at", "id"]),
                   ("ix_publications_status", ["status"])])
    table("push_campaigns",
          sa.Column("publication_id", sa.String(length=40), nullable=False),
          sa.Column("version", sa.Integer(), nullable=False),
          sa.Column("queued", sa.Integer(), nullable=False),
          sa.Column("deferred", sa.Integer(), nullable=False),
          sa.Column("sent", sa.Integer(), nullable=False),
          sa.Column("delivered", sa.Integer(), nullable=False),
          sa.Column("failed", sa.Integer(), nullable=False),
          sa.Column("skipped", sa.Integer(), nullable=False),
          sa.Column("unsubscribed", sa.Integer(), nullable=False),
          sa.PrimaryKeyConstraint("publication_id", "version"))
    table("push_clicks",
          sa.Column("publication_id", sa.String(length=40), nullable=False),
          sa.Column("channel", sa.String(length=20), nullable=False),
          sa.Column("clicks", sa.Integer(), nullable=False),
          sa.PrimaryKeyConstraint("publication_id", "channel"))
    table("push_confirmation_sends",
          sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
          sa.Column("key", sa.String(length=64), nullable=False),
          sa.Column("at", sa.DateTime(timezone=True), nullable=False),
          sa.PrimaryKeyConstraint("id"),
          indexes=[("ix_push_confirmation_sends_key", ["key", "at"])])
    table("push_confirmations",
          sa.Column("id", sa.String(length=32), nullable=False),
          sa.Column("credit_code", sa.String(length=18), nullable=False),
          sa.Column("purpose", sa.String(length=10), nullable=False),
          sa.Column("channel", sa.String(length=10), nullable=False),
          sa.Column("secret_mac", sa.String(length=64), nullable=False),
          sa.Column("doc", sa.Text(), nullable=True),
          sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("attempts", sa.Integer(), nullable=False),
          sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
          sa.PrimaryKeyConstraint("id"),
          indexes=[("ix_push_confirmations_credit_code", ["credit_code"])])
    table("push_directory",
          sa.Column("id", sa.Integer(), nullable=False),
          sa.Column("revision", sa.Integer(), nullable=False),
          sa.PrimaryKeyConstraint("id"))
    table("push_directory_tallies",
          sa.Column("name", sa.String(length=40), nullable=False),
          sa.Column("n", sa.Integer(), nullable=False),
          sa.PrimaryKeyConstraint("name"))
    table("push_recipients",
          sa.Column("delivery_id", sa.String(length=64), nullable=False),
          sa.Column("publication_id", sa.String(length=40), nullable=False),
          sa.Column("version", sa.Integer(), nullable=False),
          sa.Column("credit_code", sa.String(length=18), nullable=False),
          sa.Column("status", sa.String(length=20), nullable=False),
          sa.Column("channel", sa.String(length=20), nullable=True),
          sa.Column("detail", sa.Text(), nullable=True),
          sa.Column("day", sa.String(length=10), nullable=True),
          sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
          sa.PrimaryKeyConstraint("delivery_id"),
          indexes=[("ix_push_recipients_day", ["credit_code", "day"]), ("ix_push_recipients_pub", ["publication_id", "version"])])
    table("push_secrets",
          sa.Column("name", sa.String(length=40), nullable=False),
          sa.Column("value", sa.String(length=200), nullable=False),
          sa.PrimaryKeyConstraint("name"))
    table("push_subscriber_history",
          sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
          sa.Column("credit_code", sa.String(length=18), nullable=False),
          sa.Column("at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("actor", sa.String(length=20), nullable=False),
          sa.Column("change", sa.Text(), nullable=False),
          sa.PrimaryKeyConstraint("id"),
          indexes=[("ix_push_subscriber_history_credit_code", ["credit_code"])])
    table("push_subscribers",
          sa.Column("credit_code", sa.String(length=18), nullable=False),
          sa.Column("region", sa.String(length=30), nullable=False),
          sa.Column("industry", sa.String(length=5), nullable=False),
          sa.Column("scale", sa.String(length=10), nullable=False),
          sa.Column("qualifications", sa.Text(), nullable=False),
          sa.Column("topics", sa.Text(), nullable=False),
          sa.Column("active", sa.Boolean(), nullable=False),
          sa.Column("doc", sa.Text(), nullable=False),
          sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
          sa.PrimaryKeyConstraint("credit_code"))
    table("timeline",
          sa.Column("event_id", sa.String(length=64), nullable=False),
          sa.Column("publication_id", sa.String(length=40), nullable=False),
          sa.Column("version", sa.Integer(), nullable=False),
          sa.Column("channel", sa.String(length=30), nullable=True),
          sa.Column("status", sa.String(length=20), nullable=False),
          sa.Column("detail", sa.Text(), nullable=True),
          sa.Column("at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("actor", sa.String(length=120), nullable=True),
          sa.PrimaryKeyConstraint("event_id"),
          indexes=[("ix_timeline_publication", ["publication_id", "at"])])
    table("tokens",
          sa.Column("id", sa.String(length=40), nullable=False),
          sa.Column("kind", sa.String(length=20), nullable=False),
          sa.Column("name", sa.String(length=100), nullable=False),
          sa.Column("publisher_code", sa.String(length=40), nullable=True),
          sa.Column("token_hash", sa.String(length=64), nullable=False),
          sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
          sa.Column("revoked", sa.Boolean(), nullable=False),
          sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
          sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
          sa.PrimaryKeyConstraint("id"),
          sa.UniqueConstraint("token_hash"))


TABLES = (
    "adapter_ledger", "archived_index_nos", "audit_log", "channel_pauses", "console_sessions", "dead_letters",
    "deliveries", "delivery_outcomes", "expiries", "idempotency", "index_sequences", "outbox", "publications",
    "push_campaigns", "push_clicks", "push_confirmation_sends", "push_confirmations", "push_directory",
    "push_directory_tallies", "push_recipients", "push_secrets", "push_subscriber_history", "push_subscribers",
    "timeline", "tokens",
)


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)

