"""Per-recipient push state, in the status store's database.

`push_recipients` keeps one row per (publication version, business) push; `push_campaigns` keeps the counts per
state in step with it (in the same transactions), from which the publication's "push" channel status is
summarised; `push_clicks` counts portal-link clicks per publication and push channel. `SubscriberStore` (the
push directory, persistence.subscribers) is a `PushRecipients`, so one store object serves the push adapter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    update,
)

from persistence.tables import UTCDateTime, metadata

recipients = Table(
    "push_recipients",
    metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("publication_id", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("credit_code", String(18), nullable=False),
    Column("status", String(20), nullable=False),  # one of RECIPIENT_STATES
    Column("channel", String(20)),  # the push channel that carried (or last tried) it
    Column("detail", Text),
    Column("day", String(10)),  # local date of delivery, for daily caps
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_push_recipients_pub", "publication_id", "version"),
    Index("ix_push_recipients_day", "credit_code", "day"),
)

# Campaign counters, kept in step with push_recipients in the same transactions: O(1) to read
# however many businesses a policy reached (summaries are read after every push).
campaigns = Table(
    "push_campaigns",
    metadata,
    Column("publication_id", String(40), primary_key=True),
    Column("version", Integer, primary_key=True),
    *(Column(state, Integer, nullable=False, default=0) for state in
      ("queued", "deferred", "sent", "delivered", "failed", "skipped", "unsubscribed")),
)

clicks = Table(  # portal-link clicks per publication and push channel: a count, nothing about who clicked
    "push_clicks",
    metadata,
    Column("publication_id", String(40), primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("clicks", Integer, nullable=False),
)

RECIPIENT_STATES = ("queued", "deferred", "sent", "delivered", "failed", "skipped", "unsubscribed")
FINAL_STATES = frozenset({"delivered", "failed", "skipped", "unsubscribed"})
BATCH = 1000  # rows per statement and per IN list (also the directory's, persistence.subscribers)
QUEUED_PER_TRANSACTION = 5000  # `queued` rows per transaction at a campaign's start


class RecipientUpdate(NamedTuple):
    delivery_id: str
    publication_id: str
    version: int
    credit_code: str
    status: str
    channel: str | None = None
    detail: str | None = None
    day: str | None = None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PushRecipients:
    """Recipient rows and campaign counts. Needs `engine` and the dialect's `_insert` (set by the subclass)."""

    engine: Engine
    _insert: Callable[..., Any]

    def _count(self, conn: Connection, publication_id: str, version: int, changes: dict[str, int]) -> None:
        changes = {k: v for k, v in changes.items() if v}
        if not changes:
            return
        stmt = self._insert(campaigns).values(publication_id=publication_id, version=version,
                                              **{s: max(0, changes.get(s, 0)) for s in RECIPIENT_STATES})
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[campaigns.c.publication_id, campaigns.c.version],
            set_={s: campaigns.c[s] + n for s, n in changes.items()}))

    def record(self, delivery_id: str, publication_id: str, version: int, credit_code: str, status: str,
               *, channel: str | None = None, detail: str | None = None, day: str | None = None) -> None:
        """Set one recipient's state (a later final state is never overwritten by a replayed earlier one)."""
        self.record_many([RecipientUpdate(delivery_id, publication_id, version, credit_code, status, channel, detail,
                                          day)])

    def record_many(self, updates: Sequence[RecipientUpdate]) -> None:
        """`record` for many recipients in one transaction (the push dispatcher's batches)."""
        if not updates:
            return
        now = utcnow()
        changes: dict[tuple[str, int], dict[str, int]] = {}
        with self.engine.begin() as conn:
            ids = list({u.delivery_id for u in updates})
            olds: dict[str, str] = {}
            for start in range(0, len(ids), BATCH):
                olds.update(conn.execute(select(recipients.c.delivery_id, recipients.c.status).where(
                    recipients.c.delivery_id.in_(ids[start:start + BATCH])).with_for_update()).all())
            inserts, rewrites = [], []
            for u in updates:
                assert u.status in RECIPIENT_STATES, u.status
                old = olds.get(u.delivery_id)
                values = {"status": u.status, "channel": u.channel, "detail": u.detail, "day": u.day, "updated_at": now}
                if old is None:
                    inserts.append({"delivery_id": u.delivery_id, "publication_id": u.publication_id,
                                    "version": u.version, "credit_code": u.credit_code, **values})
                elif old not in FINAL_STATES or u.status == old:
                    rewrites.append({"b_id": u.delivery_id, **values})
                else:
                    continue
                counts = changes.setdefault((u.publication_id, u.version), {})
                if old is not None and old != u.status:
                    counts[old] = counts.get(old, 0) - 1
                if old != u.status:
                    counts[u.status] = counts.get(u.status, 0) + 1
                olds[u.delivery_id] = u.status
            if inserts:
                conn.execute(insert(recipients), inserts)
            self._rewrite(conn, rewrites)
            for (publication_id, version), counts in changes.items():
                self._count(conn, publication_id, version, counts)

    @staticmethod
    def _rewrite(conn: Connection, rewrites: Sequence[dict[str, Any]]) -> None:
        """Update recipient rows: one statement per set of new values for many rows (a batch's webhook deliveries
        all read "delivered, webhook, webhook 204, today"), not one execution per row."""
        alike: dict[tuple[Any, ...], list[str]] = {}
        latest = {row["b_id"]: row for row in rewrites}  # a row updated twice in a batch: its last values win
        for row in latest.values():
            alike.setdefault((row["status"], row["channel"], row["detail"], row["day"], row["updated_at"]),
                             []).append(row["b_id"])
        single = []
        for (status, channel, detail, day, at), ids in alike.items():
            values = {"status": status, "channel": channel, "detail": detail, "day": day, "updated_at": at}
            if len(ids) == 1:
                single.append({"b_id": ids[0], **values})
                continue
            for start in range(0, len(ids), BATCH):
                conn.execute(update(recipients).where(recipients.c.delivery_id.in_(ids[start:start + BATCH]))
                             .values(**values))
        if single:
            conn.execute(update(recipients).where(recipients.c.delivery_id == bindparam("b_id")), single)

    def record_queued(self, rows: Iterable[tuple[str, str]], publication_id: str, version: int) -> None:
        """(delivery_id, credit_code) pairs matched by the target stage; existing rows are left alone.

        Written QUEUED_PER_TRANSACTION rows per transaction, not all of a campaign's in one: one transaction for a
        large audience held the store's write lock (on SQLite, also the API's) for the whole insert. Safe to cut: a
        crash leaves some rows written, the target stage runs again and writes the rest (rows and counts go
        together, and rows already there are left alone)."""
        now = utcnow()
        pairs = list(rows)
        for start in range(0, len(pairs), QUEUED_PER_TRANSACTION):
            self._queue(pairs[start:start + QUEUED_PER_TRANSACTION], publication_id, version, now)

    def _queue(self, pairs: Sequence[tuple[str, str]], publication_id: str, version: int, now: dt.datetime) -> None:
        with self.engine.begin() as conn:
            for start in range(0, len(pairs), BATCH):
                chunk = pairs[start:start + BATCH]
                known = set(conn.execute(select(recipients.c.delivery_id).where(
                    recipients.c.delivery_id.in_([d for d, _ in chunk]))).scalars())
                values = [{"delivery_id": d, "publication_id": publication_id, "version": version, "credit_code": c,
                           "status": "queued", "updated_at": now} for d, c in chunk if d not in known]
                if values:
                    conn.execute(insert(recipients), values)
                    self._count(conn, publication_id, version, {"queued": len(values)})

    def recipient_states(self, delivery_ids: Sequence[str]) -> dict[str, str]:
        with self.engine.connect() as conn:
            return dict(conn.execute(select(recipients.c.delivery_id, recipients.c.status).where(
                recipients.c.delivery_id.in_(list(delivery_ids)))).all())

    def delivered_counts(self, credit_codes: Sequence[str], day: str) -> dict[str, int]:
        """Pushes delivered to each business on local day `day` (daily caps)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(recipients.c.credit_code, func.count()).where(
                recipients.c.credit_code.in_(list(set(credit_codes))), recipients.c.day == day,
                recipients.c.status == "delivered").group_by(recipients.c.credit_code)).all()
        return {code: int(n) for code, n in rows}

    def recipient_state(self, delivery_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(recipients.c.status).where(recipients.c.delivery_id == delivery_id)).scalar()

    def summary(self, publication_id: str, version: int) -> dict[str, int]:
        """Recipients per state for one version, plus `matched` (all of them), `clicked` (portal links, every
        version) and in `unsubscribed` also those who unsubscribed through this publication's messages."""
        with self.engine.connect() as conn:
            row = conn.execute(select(*(campaigns.c[s] for s in RECIPIENT_STATES)).where(
                campaigns.c.publication_id == publication_id, campaigns.c.version == version)).first()
            counts_by_channel = dict(conn.execute(select(clicks.c.channel, clicks.c.clicks)
                                                  .where(clicks.c.publication_id == publication_id)).all())
        counts = dict(zip(RECIPIENT_STATES, row or (0,) * len(RECIPIENT_STATES), strict=True))
        left = int(counts_by_channel.pop("unsubscribe", 0))
        return {"matched": sum(counts.values()), **counts, "unsubscribed": counts["unsubscribed"] + left,
                "clicked": int(sum(counts_by_channel.values()))}

    def click(self, publication_id: str, channel: str) -> None:
        stmt = self._insert(clicks).values(publication_id=publication_id, channel=channel, clicks=1)
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=[clicks.c.publication_id, clicks.c.channel],
                                                    set_={"clicks": clicks.c.clicks + 1}))

    def pushed_before(self, publication_id: str, version: int) -> set[str]:
        """Businesses an earlier version of the publication reached already (a revision does not re-push them)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(recipients.c.credit_code).where(
                recipients.c.publication_id == publication_id, recipients.c.version < version,
                recipients.c.status == "delivered")).scalars())

    def delivered_on(self, credit_code: str, day: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(recipients).where(
                recipients.c.credit_code == credit_code, recipients.c.day == day,
                recipients.c.status == "delivered")).scalar_one())
