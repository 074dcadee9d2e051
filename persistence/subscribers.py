"""The push directory and per-recipient push state, in the status store's database.

`push_subscribers` keeps each business's record (the full JSON plus the columns the targeting
index loads); `push_directory` holds a revision counter bumped by every change so workers know
when to rebuild their index; `push_recipients` keeps one row per (publication version, business)
push, from which the publication's "push" channel status is summarised.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from persistence import audit
from persistence.audit import Actor
from persistence.migrate import ensure_schema
from persistence.tables import UTCDateTime, metadata
from persistence.tokens import Principal
from schemas.contacts import CONTACT_FIELDS, mask_contact
from schemas.subscriber import Subscriber, SubscriberIn

subscribers = Table(
    "push_subscribers",
    metadata,
    Column("credit_code", String(18), primary_key=True),
    Column("region", String(30), nullable=False),
    Column("industry", String(5), nullable=False),
    Column("scale", String(10), nullable=False),
    Column("qualifications", Text, nullable=False),  # "|"-joined, for the index loader
    Column("topics", Text, nullable=False),
    Column("active", Boolean, nullable=False),  # consent given and not unsubscribed from everything
    Column("doc", Text, nullable=False),  # JSON of schemas.subscriber.Subscriber (incl. the webhook secret)
    Column("updated_at", UTCDateTime(), nullable=False),
)

directory = Table(
    "push_directory",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),
)

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

push_secrets = Table(
    "push_secrets",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
)

RECIPIENT_STATES = ("queued", "deferred", "sent", "delivered", "failed", "skipped", "unsubscribed")
FINAL_STATES = frozenset({"delivered", "failed", "skipped", "unsubscribed"})
BATCH = 1000
QUEUED_PER_TRANSACTION = 5000  # `queued` rows per transaction at a campaign's start

# Called with (credit code, stored JSON | None for a removal) for every directory change, inside the change's
# transaction and last: raising (the broker refused it) rolls the change back. In Kafka mode it produces the change
# to the compacted directory topic (processors.directory_topic); embedded mode has none.
ChangeHook = Callable[[list[tuple[str, bytes | None]]], None]
AlsoWrite = Callable[[Connection], None]  # more writes in a change's own transaction


Origin = Literal["operator", "imported", "self"]


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


def _subscriber_diff(old: Subscriber | None, new: Subscriber) -> dict[str, Any]:
    """For the audit trail: what changed, contacts masked (the trail is append-only and outlives a deleted record;
    compared in clear, so a changed middle of a mobile number is still a change), the webhook secret only as changed."""
    changes = audit.diff(old.public(reveal=CONTACT_FIELDS) if old else {}, new.public(reveal=CONTACT_FIELDS))
    for name in CONTACT_FIELDS:
        if name in changes:
            changes[name] = {end: mask_contact(name, value) for end, value in changes[name].items()}
    old_secret = old.webhook_secret.get_secret_value() if old and old.webhook_secret else None
    if old is not None and old_secret != (new.webhook_secret.get_secret_value() if new.webhook_secret else None):
        changes["webhook_secret"] = "changed"
    return changes


class SubscriberStore:
    def __init__(self, engine: Engine, on_change: ChangeHook | None = None) -> None:
        self.engine = engine
        self.on_change = on_change
        ensure_schema(engine)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    # -- directory ------------------------------------------------------------
    def revision(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(directory.c.revision).where(directory.c.id == 1)).scalar() or 0)

    def _bump(self, conn: Connection) -> None:
        stmt = self._insert(directory).values(id=1, revision=1)
        conn.execute(stmt.on_conflict_do_update(index_elements=[directory.c.id],
                                                set_={"revision": directory.c.revision + 1}))

    def _emit(self, changes: list[tuple[str, bytes | None]]) -> None:
        if self.on_change is not None and changes:
            self.on_change(changes)

    @staticmethod
    def _row(sub: Subscriber) -> dict[str, Any]:
        return {"credit_code": sub.credit_code, "region": sub.region, "industry": sub.industry, "scale": sub.scale,
                "qualifications": "|".join(sub.qualifications), "topics": "|".join(sub.topics),
                "active": bool(sub.reachable_channels()),
                "doc": json.dumps(sub.stored(), ensure_ascii=False), "updated_at": utcnow()}

    def _merge(self, new: SubscriberIn, old: Subscriber | None, now: dt.datetime, origin: Origin) -> Subscriber:
        keep: dict[str, Any] = {"origin": origin}
        if old is not None:
            keep["unsubscribed"] = old.unsubscribed
            keep["webhook_disabled"] = old.webhook_disabled and old.webhook_url == new.webhook_url
            keep["consent_at"] = old.consent_at if old.consent else None
            keep["paused"] = old.paused
        data = {**new.model_dump(), **keep}
        if new.consent and not data.get("consent_at"):
            data["consent_at"] = now
        return Subscriber.model_validate(data)

    def upsert(self, sub: SubscriberIn, origin: Origin = "operator",
               actor: Principal | Actor | None = None) -> tuple[Subscriber, bool]:
        """Create or replace one record (unsubscribes and consent time survive); returns it and whether it is new.

        `origin` says who vouches for the contacts: an operator or an import (not the business's own confirmation).
        With `actor`, the change is on the audit trail (same transaction).
        """
        return self.upsert_many([sub], origin, actor)[0]

    def put(self, sub: Subscriber, audited: tuple[Principal | Actor, str] | None = None) -> None:
        """Store exactly this record (the subscription center, which merges and verifies itself). With `audited`
        (actor, action) the change is on the audit trail by field names only: a business may delete its record,
        and the append-only trail must not keep its contact details."""
        row = self._row(sub)
        with self.engine.begin() as conn:
            old_doc = conn.execute(select(subscribers.c.doc).where(subscribers.c.credit_code == sub.credit_code)
                                   .with_for_update()).scalar()
            stmt = self._insert(subscribers)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[subscribers.c.credit_code],
                set_={c.name: stmt.excluded[c.name] for c in subscribers.columns if c.name != "credit_code"}), [row])
            if audited is not None:
                old = Subscriber.from_stored(old_doc) if old_doc else None
                audit.record(conn, audited[0], audited[1], sub.credit_code, {"fields": sorted(_subscriber_diff(old, sub))})
            self._bump(conn)
            self._emit([(sub.credit_code, row["doc"].encode())])

    def upsert_many(self, subs: Sequence[SubscriberIn], origin: Origin = "operator",
                    actor: Principal | Actor | None = None) -> list[tuple[Subscriber, bool]]:
        now, out = utcnow(), []
        changes: list[tuple[str, bytes | None]] = []
        with self.engine.begin() as conn:
            for start in range(0, len(subs), BATCH):
                chunk = subs[start:start + BATCH]
                olds = {r.credit_code: Subscriber.from_stored(r.doc) for r in conn.execute(
                    select(subscribers.c.credit_code, subscribers.c.doc)
                    .where(subscribers.c.credit_code.in_([s.credit_code for s in chunk])))}
                merged = [(self._merge(s, olds.get(s.credit_code), now, origin), s.credit_code not in olds) for s in chunk]
                rows = list({sub.credit_code: self._row(sub) for sub, _ in merged}.values())
                stmt = self._insert(subscribers)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=[subscribers.c.credit_code],
                    set_={c.name: stmt.excluded[c.name] for c in subscribers.columns if c.name != "credit_code"}), rows)
                changes += [(r["credit_code"], r["doc"].encode()) for r in rows]
                out += merged
                if actor is not None:
                    for sub, created in merged:
                        old = olds.get(sub.credit_code)
                        audit.record(conn, actor, "subscriber.create" if created else "subscriber.replace", sub.credit_code,
                                     _subscriber_diff(old, sub))
            if subs:
                self._bump(conn)
            self._emit(changes)
        return out

    def _save(self, conn: Connection, sub: Subscriber) -> None:
        row = self._row(sub)
        conn.execute(update(subscribers).where(subscribers.c.credit_code == sub.credit_code).values(**row))
        self._bump(conn)
        self._emit([(sub.credit_code, row["doc"].encode())])

    def get(self, credit_code: str) -> Subscriber | None:
        with self.engine.connect() as conn:
            doc = conn.execute(select(subscribers.c.doc).where(subscribers.c.credit_code == credit_code)).scalar()
        return Subscriber.from_stored(doc) if doc else None

    def list(self, limit: int, offset: int) -> tuple[int, list[Subscriber]]:
        with self.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(subscribers)).scalar_one())
            docs = conn.execute(select(subscribers.c.doc).order_by(subscribers.c.credit_code)
                                .limit(limit).offset(offset)).scalars().all()
        return total, [Subscriber.from_stored(d) for d in docs]

    def delete(self, credit_code: str, actor: Principal | Actor | None = None) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(subscribers).where(subscribers.c.credit_code == credit_code)).rowcount
            if gone:
                if actor is not None:
                    audit.record(conn, actor, "subscriber.delete", credit_code)
                self._bump(conn)
                self._emit([(credit_code, None)])
        return bool(gone)

    def _change(self, credit_code: str, audited: tuple[Principal | Actor, str] | None = None,
                note: dict[str, Any] | None = None, also: AlsoWrite | None = None, **changes: Any) -> Subscriber | None:
        """`also`: more writes that belong to this change (the business's 变更记录), in the same transaction, before
        the change goes to Kafka mode's directory topic: either all of it is stored or none."""
        with self.engine.begin() as conn:
            doc = conn.execute(select(subscribers.c.doc).where(subscribers.c.credit_code == credit_code)
                               .with_for_update()).scalar()
            if doc is None:
                return None
            old = Subscriber.from_stored(doc)
            sub = old.model_copy(update=changes)
            if sub == old:  # changed meanwhile by someone else to just this: nothing to store or record
                return sub
            if also is not None:
                also(conn)
            self._save(conn, sub)
            if audited is not None:
                audit.record(conn, audited[0], audited[1], credit_code, {**_subscriber_diff(old, sub), **(note or {})})
        return sub

    def set_paused(self, credit_code: str, paused: bool, actor: Principal | Actor, reason: str = "",
                   also: AlsoWrite | None = None) -> Subscriber | None:
        """An operator pauses (or resumes) every push to one business; on the audit trail with the reason, and
        `also` (SelfService.set_paused: the business's 变更记录) in the same transaction. None: no such business.
        Pausing what is paused changes nothing and records nothing."""
        sub = self.get(credit_code)
        if sub is None or sub.paused == paused:
            return sub
        return self._change(credit_code, (actor, "subscriber.pause" if paused else "subscriber.resume"),
                            {"reason": reason} if reason else None, also, paused=paused)

    def unsubscribe(self, credit_code: str, channel: str, actor: Principal | Actor | None = None) -> Subscriber | None:
        """Stop pushes on `channel` ("all" for every channel); idempotent."""
        sub = self.get(credit_code)
        if sub is None or channel in sub.unsubscribed:
            return sub
        return self._change(credit_code, (actor, "subscriber.unsubscribe") if actor is not None else None,
                            unsubscribed=sorted({*sub.unsubscribed, channel}))

    def disable_webhook(self, credit_code: str) -> None:
        self._change(credit_code, webhook_disabled=True)

    def docs(self) -> Iterator[tuple[str, str]]:
        """(credit_code, stored JSON) of every subscriber, streamed (reseeding the directory topic)."""
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=5000).execute(select(subscribers.c.credit_code, subscribers.c.doc))
            yield from ((code, doc) for code, doc in result)

    def republish(self, codes: Sequence[str]) -> None:
        """Send the current record of each code (None when it is gone) through `on_change` (reseeding).

        The transaction first takes the lock every directory change takes (the revision row), so a concurrent
        change is emitted either before this (and read here) or after it: the topic never ends on a stale value.
        """
        with self.engine.begin() as conn:
            conn.execute(update(directory).where(directory.c.id == 1).values(revision=directory.c.revision))
            found = {code: doc for code, doc in conn.execute(select(subscribers.c.credit_code, subscribers.c.doc)
                                                              .where(subscribers.c.credit_code.in_(list(codes))))}
            self._emit([(code, found[code].encode() if code in found else None) for code in codes])

    def index_rows(self) -> Iterator[tuple[str, str, str, str, str, str]]:
        """(credit_code, region, industry, scale, qualifications, topics) of every active subscriber."""
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=5000).execute(select(
                subscribers.c.credit_code, subscribers.c.region, subscribers.c.industry, subscribers.c.scale,
                subscribers.c.qualifications, subscribers.c.topics).where(subscribers.c.active.is_(True)))
            for row in result:
                yield tuple(row)

    # -- per-recipient push state ----------------------------------------------
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

    def get_many(self, credit_codes: Sequence[str]) -> dict[str, Subscriber]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(subscribers.c.credit_code, subscribers.c.doc).where(
                subscribers.c.credit_code.in_(list(set(credit_codes))))).all()
        return {code: Subscriber.from_stored(doc) for code, doc in rows}

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

    # -- secrets ----------------------------------------------------------------
    def secret(self, name: str) -> str:
        """A random secret created once per installation (shared by every worker through the database)."""
        with self.engine.begin() as conn:
            conn.execute(self._insert(push_secrets).on_conflict_do_nothing(index_elements=[push_secrets.c.name]),
                         [{"name": name, "value": secrets.token_urlsafe(32)}])
            return str(conn.execute(select(push_secrets.c.value).where(push_secrets.c.name == name)).scalar_one())
