"""The status store: publications, per-channel delivery state, timeline, tokens, idempotency.

Written by the API (accepted submissions) and by the status projection
(StatusEvents from the pipeline); read by the API, console and metrics.
Every write the projection makes is idempotent (timeline rows are keyed by
event id), so replaying the status topic after a crash changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from persistence.engine import advisory_lock, make_engine, normalize_url, reading, unflushed_transaction
from persistence.engine import at_batch_end as batch_end
from persistence.migrate import open_schema
from persistence.operations import Operations
from persistence.projection import Projection, overall_status, timeline_row
from persistence.sessions import Sessions
from persistence.tables import archived_index_nos, deliveries, idempotency, index_sequences, publications, timeline
from persistence.tokens import Principal, TokenRecord, TokenRecords
from schemas.delivery import DeliveryStatus, StatusEvent
from schemas.publication import IndexNo, Publication

__all__ = ["ListFilter", "Principal", "StatusStore", "TokenRecord", "make_engine", "overall_status", "utcnow"]


_INDEX_NO_TAKEN = union_all(
    select(literal(1)).where(publications.c.index_no == bindparam("index_no"), publications.c.id != bindparam("except_id")),
    select(literal(1)).where(archived_index_nos.c.index_no == bindparam("index_no")),
).limit(1)


# Which of a batch's 索引号 are taken; asked while the department's counter row is locked, so its plan matters
# (public for the test that checks PostgreSQL answers it from the unique B-tree, not a trigram index).
INDEX_NOS_TAKEN = union_all(
    select(publications.c.index_no).where(publications.c.index_no.in_(bindparam("index_nos", expanding=True))),
    select(archived_index_nos.c.index_no).where(archived_index_nos.c.index_no.in_(bindparam("index_nos", expanding=True))),
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ListFilter:
    department: str | None = None
    status: str | None = None
    channel: str | None = None
    kind: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 20
    offset: int = 0


class StatusStore(TokenRecords, Operations, Sessions):
    """The store on SQLite (`sqlite:///path`) or PostgreSQL (`postgresql+psycopg://user:pw@host:port/db`;
    `postgresql://` and `postgres://` mean the same). Times go in and come out timezone-aware (UTC).

    Opening it migrates the database to this code's schema; with `auto_upgrade=False` a database behind it is
    refused instead (persistence.migrate.SchemaBehind) until `govcast db upgrade` has run."""

    def __init__(self, url: str, *, auto_upgrade: bool = True) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        try:
            open_schema(self.engine, auto_upgrade=auto_upgrade)
        except BaseException:
            self.engine.dispose()
            raise
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        # False when the embedded log shares this SQLite file (govcast.runtime): the status projection's commits then
        # need no fsync of their own (persistence.engine.unflushed_transaction)
        self.flush_projection = True

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- idempotency --------------------------------------------------------
    def idempotent_answer(self, conn: Connection, principal: str, key: str) -> tuple[str, int, dict[str, Any]] | None:
        """The answer remembered for (principal, key), if any.

        Also claims the key for the rest of `conn`'s transaction: a concurrent request with the
        same key waits here until this transaction ends, then finds the remembered answer.
        """
        advisory_lock(conn, "idempotency", principal, key)
        row = conn.execute(
            select(idempotency).where(idempotency.c.principal == principal, idempotency.c.key == key)
        ).first()
        return (row.request_hash, row.status_code, json.loads(row.response)) if row else None

    def remember_answer(self, conn: Connection, principal: str, key: str, request_hash: str, status: int, body: dict[str, Any]) -> None:
        conn.execute(
            insert(idempotency).values(
                principal=principal, key=key, request_hash=request_hash, status_code=status,
                response=json.dumps(body, ensure_ascii=False), created_at=utcnow(),
            )
        )

    # -- publications -------------------------------------------------------
    def next_index_sequence(self, conn: Connection, publisher_code: str, year: int) -> int:
        return self.next_index_sequences(conn, publisher_code, year, 1)[0]

    def next_index_sequences(self, conn: Connection, publisher_code: str, year: int, count: int) -> list[int]:
        """The department's next `count` 索引号 sequence numbers, in one statement (the counter row stays locked
        until the transaction ends; a rollback gives the numbers back)."""
        last = int(conn.execute(self._next_sequence_statement, {"code": publisher_code, "year": year, "count": count}).scalar_one())
        return list(range(last - count + 1, last + 1))

    @functools.cached_property
    def _next_sequence_statement(self) -> Any:
        # Built once, run with parameters (as the upsert below): a submission's SQL is mostly building statements.
        stmt = self._insert(index_sequences).values(publisher_code=bindparam("code"), year=bindparam("year"), last=bindparam("count"))
        return (
            stmt.on_conflict_do_update(index_elements=["publisher_code", "year"],
                                       set_={"last": index_sequences.c.last + stmt.excluded.last})
            .returning(index_sequences.c.last)
        )

    def index_no_taken(self, conn: Connection, index_no: str, *, except_id: str = "") -> bool:
        """True when a publication other than `except_id` has `index_no`, or an imported archive record does."""
        return conn.execute(_INDEX_NO_TAKEN, {"index_no": index_no, "except_id": except_id}).first() is not None

    def index_nos_taken(self, conn: Connection, index_nos: Sequence[str]) -> set[str]:
        """Which of `index_nos` a publication or an imported archive record has (one query for many)."""
        return set(conn.execute(INDEX_NOS_TAKEN, {"index_nos": list(index_nos)}).scalars())

    def reserve_archived(self, index_nos: Sequence[IndexNo]) -> None:
        """Archive import: these 索引号 are taken (the allocator skips past them; a department cannot send one)."""
        if not index_nos:
            return
        highest: dict[tuple[str, int], int] = {}
        for index in index_nos:
            key = (index.code, index.year)
            highest[key] = max(highest.get(key, 0), index.sequence)
        with self.engine.begin() as conn:
            conn.execute(self._insert(archived_index_nos).values([{"index_no": str(i)} for i in index_nos])
                         .on_conflict_do_nothing(index_elements=["index_no"]))
            for (code, year), last in sorted(highest.items()):
                conn.execute(self._insert(index_sequences).values(publisher_code=code, year=year, last=last)
                             .on_conflict_do_update(index_elements=["publisher_code", "year"],
                                                    set_={"last": func.max(index_sequences.c.last, last)}
                                                    if self.engine.dialect.name == "sqlite" else
                                                    {"last": func.greatest(index_sequences.c.last, last)}))

    def index_no_archived(self, conn: Connection, index_no: str) -> bool:
        return conn.execute(select(archived_index_nos.c.index_no).where(archived_index_nos.c.index_no == index_no)).first() is not None

    def upsert_publication(self, conn: Connection, pub: Publication, status: str, channels: Sequence[str], *,
                           at_batch_end: bool = False) -> dict[str, Any]:
        """Record `pub` unless the store already holds a newer version or has it retracted.

        One statement (INSERT … ON CONFLICT DO UPDATE … WHERE), so concurrent writers of one id
        cannot both insert. A copy of the stored version may replace the record (the status
        then stays as it is); a non-retracted copy never replaces a retracted record.

        `at_batch_end`: inside a group-commit batch, written with the batch's other such rows in one
        statement right before the commit (nothing in the batch reads it back before then). Returns the row (a
        row queued for the batch's end may still be changed until then: producers.numbering).
        """
        now = utcnow()
        row = {
            "id": pub.id, "department": pub.department, "kind": pub.kind.value, "title": pub.title,
            "index_no": pub.index_no_text, "category": pub.category, "version": pub.version, "status": status,
            "channels": json.dumps(list(channels)), "publish_at": pub.publish_at, "retracted": pub.retracted,
            "doc": pub.model_dump_json(), "created_at": now, "updated_at": now, **document_columns(pub),
        }
        if not (at_batch_end and batch_end(conn, self._upsert_rows, row)):
            self._upsert_rows(conn, [row])
        return row

    def _upsert_rows(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        conn.execute(self._upsert_statement, rows)

    @functools.cached_property
    def _upsert_statement(self) -> Any:
        # Built once, run with parameters: building and cache-keying a fresh 14-column upsert per
        # submission cost more than executing it (a third of the group-commit writer's time).
        stmt = self._insert(publications)
        new, old = stmt.excluded, publications.c
        fields = ("department", "kind", "title", "index_no", "category", "version", "channels", "publish_at", "retracted",
                  "doc", "updated_at", *DOCUMENT_COLUMNS)
        return stmt.on_conflict_do_update(
            index_elements=[publications.c.id],
            set_={**{f: new[f] for f in fields}, "status": case((old.version < new.version, new.status), else_=old.status)},
            where=(old.version <= new.version) & (new.retracted | old.retracted.is_(False)),
        )

    def record_timeline(self, conn: Connection, updates: Sequence[tuple[str, StatusEvent]], *,
                        at_batch_end: bool = False) -> None:
        """Timeline entries of status events committed by their producer itself (no projection runs for them):
        an event id already recorded is skipped, as the projection skips it. `at_batch_end`: as `upsert_publication`."""
        for event_id, ev in updates:
            row = timeline_row(event_id, ev)
            if not (at_batch_end and batch_end(conn, self._add_timeline, row)):
                self._add_timeline(conn, [row])

    def _add_timeline(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        conn.execute(self._timeline_statement, rows)

    @functools.cached_property
    def _timeline_statement(self) -> Any:
        return self._insert(timeline).on_conflict_do_nothing(index_elements=[timeline.c.event_id])

    def publication_row(self, publication_id: str, conn: Connection | None = None) -> Any:
        if conn is not None:
            return conn.execute(select(publications).where(publications.c.id == publication_id)).first()
        with reading(self.engine) as c:
            return c.execute(select(publications).where(publications.c.id == publication_id)).first()

    def publication(self, publication_id: str) -> Publication | None:
        row = self.publication_row(publication_id)
        return Publication.model_validate_json(row.doc) if row else None

    def find_by_index_no(self, index_no: str, conn: Connection | None = None) -> Any:
        if conn is not None:
            return conn.execute(select(publications).where(publications.c.index_no == index_no)).first()
        with reading(self.engine) as c:
            return c.execute(select(publications).where(publications.c.index_no == index_no)).first()

    def compare_and_set_publication(
        self, conn: Connection, pub: Publication, status: str, channels: Sequence[str], *, expected_version: int
    ) -> bool:
        """Replace the record of `pub.id` only if it is still at `expected_version` and not retracted.

        The check and the write are one UPDATE, so of two concurrent writers that
        read the same version exactly one succeeds (False for the other).
        """
        result = conn.execute(
            update(publications)
            .where(
                publications.c.id == pub.id,
                publications.c.version == expected_version,
                publications.c.retracted.is_(False),
            )
            .values(
                kind=pub.kind.value, title=pub.title, index_no=pub.index_no_text, category=pub.category,
                version=pub.version, status=status, channels=json.dumps(list(channels)), publish_at=pub.publish_at,
                retracted=pub.retracted, doc=pub.model_dump_json(), updated_at=utcnow(), **document_columns(pub),
            )
        )
        return result.rowcount == 1

    def counts_by_status(self) -> dict[str, int]:
        """Number of publications per overall status (for the metrics gauge)."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(publications.c.status, func.count()).group_by(publications.c.status)
            ).all()
        return {str(status): int(count) for status, count in rows}

    def list_publications(self, flt: ListFilter) -> tuple[int, list[Any]]:
        query = select(publications)
        if flt.department:
            query = query.where(publications.c.department == flt.department)
        if flt.status:
            query = query.where(publications.c.status == flt.status)
        if flt.kind:
            query = query.where(publications.c.kind == flt.kind)
        if flt.channel:
            query = query.where(publications.c.channels.contains(f'"{flt.channel}"', autoescape=True))
        if flt.since:
            query = query.where(publications.c.created_at >= flt.since)
        if flt.until:
            query = query.where(publications.c.created_at < flt.until)
        with reading(self.engine) as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            rows = conn.execute(
                query.order_by(publications.c.created_at.desc(), publications.c.id).limit(flt.limit).offset(flt.offset)
            ).all()
        return int(total), list(rows)

    def deliveries_of(self, publication_id: str) -> dict[str, dict[str, Any]]:
        with reading(self.engine) as conn:
            rows = conn.execute(select(deliveries).where(deliveries.c.publication_id == publication_id)).all()
        return {
            r.channel: {"status": r.status, "version": r.version, "url": r.url, "detail": r.detail, "updated_at": r.updated_at}
            for r in rows
        }

    def timeline_of(self, publication_id: str) -> list[dict[str, Any]]:
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(timeline).where(timeline.c.publication_id == publication_id).order_by(timeline.c.at, timeline.c.event_id)
            ).all()
        return [
            {"at": r.at, "channel": r.channel, "status": r.status, "version": r.version, "detail": r.detail,
             "actor": r.actor}
            for r in rows
        ]

    def due_for_release(self, now: dt.datetime) -> list[Publication]:
        """Scheduled publications whose time has come and whose current version is not yet released."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(publications.c.doc).where(
                    publications.c.status == DeliveryStatus.scheduled.value,
                    publications.c.publish_at <= now,
                    publications.c.retracted.is_(False),
                )
            ).all()
        return [Publication.model_validate_json(r.doc) for r in rows]

    def mark_released(self, publication_id: str, version: int) -> None:
        with self.transaction() as conn:
            conn.execute(
                update(publications)
                .where(publications.c.id == publication_id, publications.c.version == version)
                .values(released_version=version, status=DeliveryStatus.pending.value)
            )

    # -- status projection --------------------------------------------------
    @functools.cached_property
    def _projection(self) -> Projection:
        return Projection(self._insert, self.engine.dialect.name == "postgresql", self.upsert_publication, utcnow)

    def apply_status(self, event_id: str, ev: StatusEvent) -> bool:
        """Apply one StatusEvent; False when this event id was applied before (replay).

        Safe with several workers at once: the event id is recorded with ON CONFLICT DO NOTHING
        (a replay racing its original waits for it, then is skipped), and the publication's row
        stays locked (SELECT … FOR UPDATE) until commit, so events of one publication are applied
        one after the other and the overall status always reflects every channel's committed state.
        """
        return self.apply_status_many([(event_id, ev)])[0]

    def apply_status_many(self, updates: Sequence[tuple[str, StatusEvent]]) -> list[bool]:
        """`apply_status` for a batch, in one short transaction (persistence/projection.py).

        Safe with several lanes and workers at once (the Kafka host's delivery lanes project their own
        statuses, so two channels of one publication may be projected concurrently): every batch locks its
        publications in id order before it reads their delivery rows, so batches that share a publication
        take turns on it, and none waits for another in a cycle.
        """
        with self.transaction() if self.flush_projection else unflushed_transaction(self.engine) as conn:
            return self._projection.apply(conn, updates)


DOCUMENT_COLUMNS = ("doc_no", "publish_date", "validity", "related_ids")


def document_columns(pub: Publication) -> dict[str, Any]:
    interprets = [r.id for r in pub.related if r.id and r.relation == "interprets"]
    return {"doc_no": pub.doc_no, "publish_date": pub.publish_date, "validity": pub.validity.value,
            "related_ids": json.dumps(interprets)}
