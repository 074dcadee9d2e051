"""The push directory (and, through `PushRecipients`, per-recipient push state) in the status store's database.

`push_subscribers` keeps each business's record (the full JSON plus the columns the targeting
index loads); `push_directory` holds a revision counter bumped by every change so workers know
when to rebuild their index. The per-recipient push state is persistence.push_recipients, which
`SubscriberStore` extends.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from persistence import audit
from persistence.audit import Actor
from persistence.migrate import ensure_schema
from persistence.push_recipients import BATCH, PushRecipients, utcnow
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

push_secrets = Table(
    "push_secrets",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
)

# Called with (credit code, stored JSON | None for a removal) for every directory change, inside the change's
# transaction and last: raising (the broker refused it) rolls the change back. In Kafka mode it produces the change
# to the compacted directory topic (processors.directory_topic); embedded mode has none.
ChangeHook = Callable[[list[tuple[str, bytes | None]]], None]
AlsoWrite = Callable[[Connection], None]  # more writes in a change's own transaction


Origin = Literal["operator", "imported", "self"]


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


class SubscriberStore(PushRecipients):
    """The push directory; as a `PushRecipients`, also the per-recipient push state and campaign counts."""

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

    def get_many(self, credit_codes: Sequence[str]) -> dict[str, Subscriber]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(subscribers.c.credit_code, subscribers.c.doc).where(
                subscribers.c.credit_code.in_(list(set(credit_codes))))).all()
        return {code: Subscriber.from_stored(doc) for code, doc in rows}

    # -- secrets ----------------------------------------------------------------
    def secret(self, name: str) -> str:
        """A random secret created once per installation (shared by every worker through the database)."""
        with self.engine.begin() as conn:
            conn.execute(self._insert(push_secrets).on_conflict_do_nothing(index_elements=[push_secrets.c.name]),
                         [{"name": name, "value": secrets.token_urlsafe(32)}])
            return str(conn.execute(select(push_secrets.c.value).where(push_secrets.c.name == name)).scalar_one())
