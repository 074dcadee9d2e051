"""Tables of the status store (SQLAlchemy Core; SQLite for one node, PostgreSQL for many)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A moment in time: stored in UTC, always read back timezone-aware (UTC), on both backends.

    PostgreSQL keeps it as timestamptz. SQLite has no time zones and SQLAlchemy would store
    an aware value's wall clock, so 09:00+08:00 would read back (and compare) as 09:00 UTC;
    converting to UTC before storing keeps ordering and comparisons right. A naive value is
    taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = MetaData()

# 有效期至 of publications in force: the expiry timer reads the due ones (producers.lifecycle).
expiries = Table(
    "expiries",
    metadata,
    Column("publication_id", String(40), primary_key=True),
    Column("expires_on", Date, nullable=False, index=True),  # the last day in force (Beijing time)
)

publications = Table(
    "publications",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("department", String(40), nullable=False, index=True),  # publisher code of the owning department
    Column("kind", String(20), nullable=False),
    Column("title", Text, nullable=False),
    Column("index_no", String(60), nullable=False, unique=True),  # 索引号 identifies one document
    Column("category", String(50), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("channels", Text, nullable=False),  # JSON list of target channels
    Column("publish_at", UTCDateTime()),
    Column("released_version", Integer),  # last version the scheduler released
    Column("retracted", Boolean, nullable=False, default=False),
    Column("doc", Text, nullable=False),  # JSON of the current schemas.Publication
    Column("created_at", UTCDateTime(), nullable=False, index=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Copies of document fields the console filters on and the inspection watch reads (from `doc`).
    Column("doc_no", String(100)),
    Column("publish_date", Date),
    Column("validity", String(10)),
    Column("related_ids", Text),  # JSON list of the ids this publication interprets (kind interpretation)
    Index("ix_publications_created_id", "created_at", "id"),  # console keyset paging, newest first
    Index("ix_publications_department_created", "department", "created_at", "id"),
    Index("ix_publications_category_date", "category", "publish_date"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("publication_id", String(40), primary_key=True),
    Column("channel", String(30), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("url", Text),
    Column("detail", Text),
    Column("progress", Integer),  # fan-out channels: summaries only move forward (see StatusEvent.progress)
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("queued_at", UTCDateTime()),  # when this version was first queued for the channel (delivery latency)
    Index("ix_deliveries_channel_status", "channel", "status"),
    Index("ix_deliveries_updated", "updated_at"),  # the console's live updates: what changed since
)

timeline = Table(
    "timeline",
    metadata,
    Column("event_id", String(64), primary_key=True),  # CloudEvent id: replays are recognised and skipped
    Column("publication_id", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("channel", String(30)),
    Column("status", String(20), nullable=False),
    Column("detail", Text),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(120)),  # who did it, for human actions (operator or department name); None: the pipeline
    Index("ix_timeline_publication", "publication_id", "at"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(20), nullable=False),  # department | operator | business
    Column("name", String(100), nullable=False),
    Column("publisher_code", String(40)),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the secret; the secret is never stored
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("expires_at", UTCDateTime()),  # none: valid until revoked
    Column("revoked_at", UTCDateTime()),
)

idempotency = Table(
    "idempotency",
    metadata,
    Column("principal", String(40), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

index_sequences = Table(
    "index_sequences",
    metadata,
    Column("publisher_code", String(40), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("last", Integer, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("event_id", String(64), primary_key=True),  # id of the dead-letter event: replays are recognised
    Column("kind", String(20), nullable=False),  # delivery (gave up) | parked (a stage failed on it) | malformed
    Column("publication_id", String(40)),
    Column("version", Integer),
    Column("channel", String(30)),
    Column("recipient", String(40)),
    Column("reason", Text, nullable=False),
    Column("event", Text, nullable=False),  # the CloudEvent JSON: what a requeue sends again
    Column("at", UTCDateTime(), nullable=False),
    Column("requeued_at", UTCDateTime()),
    Column("requeued_by", String(120)),
    Index("ix_dead_letters_open", "channel", "requeued_at", "at"),
    Index("ix_dead_letters_publication", "publication_id"),
)

channel_pauses = Table(
    "channel_pauses",
    metadata,
    Column("channel", String(30), primary_key=True),  # a row means paused; resume deletes it
    Column("paused_by", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    Column("paused_at", UTCDateTime(), nullable=False),
)

delivery_outcomes = Table(
    "delivery_outcomes",
    metadata,
    Column("event_id", String(64), primary_key=True),  # the status event that reported it (replay-safe)
    Column("channel", String(30), nullable=False),
    Column("outcome", String(20), nullable=False),  # delivered | retracted | retrying | failed | dead
    Column("latency_ms", Integer),  # queued -> this outcome, for delivered and retracted
    Column("detail", Text),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_delivery_outcomes_channel_at", "channel", "at"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie value; the value itself is never stored
    Column("principal_id", String(40), nullable=False),
    Column("csrf", String(64), nullable=False),  # the session's CSRF token, in every state-changing form
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Index("ix_console_sessions_last_seen", "last_seen"),
)

# 索引号 of articles imported from an earlier portal (`govcast portal import`): never allocated again.
archived_index_nos = Table(
    "archived_index_nos",
    metadata,
    Column("index_no", String(80), primary_key=True),
)

# Transactional outbox: bus messages written in the same transaction as the rows they announce,
# relayed to the bus afterwards (processors.outbox). AUTOINCREMENT: a sequence number is never reused.
outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("event", Text, nullable=False),  # the CloudEvent as JSON
    Column("created_at", UTCDateTime(), nullable=False),
    sqlite_autoincrement=True,
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # append order = chain order (appended under a lock)
    Column("at", UTCDateTime(), nullable=False, index=True),
    Column("actor_id", String(40), nullable=False, index=True),  # token id (prn_…), or cli:<user> for the command line
    Column("actor_name", String(100), nullable=False),
    Column("actor_kind", String(20), nullable=False),  # department | operator | business | cli | link | system
    Column("action", String(40), nullable=False, index=True),  # publication.submit, token.revoke, subscriber.delete, …
    Column("target", String(60), nullable=False, index=True),  # publication id, token id, credit code, channel
    Column("detail", Text, nullable=False),  # JSON: the diff, the reason, counts
    Column("client", String(64)),  # the caller's address, when it came over HTTP
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    sqlite_autoincrement=True,  # a deleted last row's number is never reused
)
