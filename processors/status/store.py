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

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from processors.status.engine import advisory_lock, create_schema, make_engine, normalize_url, reading
from processors.status.operations import OUTCOMES, TERMINAL_STATES, Operations, record_outcome
from processors.status.sessions import Sessions
from processors.status.tables import archived_index_nos, deliveries, idempotency, index_sequences, publications, timeline
from processors.status.tokens import Principal, TokenRecord, TokenRecords
from schemas.delivery import DeliveryStatus, StatusEvent
from schemas.publication import IndexNo, Publication

__all__ = ["ListFilter", "Principal", "StatusStore", "TokenRecord", "make_engine", "overall_status", "utcnow"]


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
    `postgresql://` and `postgres://` mean the same). Times go in and come out timezone-aware (UTC)."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        create_schema(self.engine)
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

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
        stmt = (
            self._insert(index_sequences)
            .values(publisher_code=publisher_code, year=year, last=1)
            .on_conflict_do_update(
                index_elements=["publisher_code", "year"], set_={"last": index_sequences.c.last + 1}
            )
            .returning(index_sequences.c.last)
        )
        return int(conn.execute(stmt).scalar_one())

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

    def upsert_publication(self, conn: Connection, pub: Publication, status: str, channels: Sequence[str]) -> None:
        """Record `pub` unless the store already holds a newer version or has it retracted.

        One statement (INSERT … ON CONFLICT DO UPDATE … WHERE), so concurrent writers of one id
        cannot both insert. A copy of the stored version may replace the record (the status
        then stays as it is); a non-retracted copy never replaces a retracted record.
        """
        now = utcnow()
        conn.execute(self._upsert_statement, {
            "id": pub.id, "department": pub.department, "kind": pub.kind.value, "title": pub.title,
            "index_no": pub.index_no_text, "category": pub.category, "version": pub.version, "status": status,
            "channels": json.dumps(list(channels)), "publish_at": pub.publish_at, "retracted": pub.retracted,
            "doc": pub.model_dump_json(), "created_at": now, "updated_at": now, **document_columns(pub),
        })

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
    def apply_status(self, event_id: str, ev: StatusEvent) -> bool:
        """Apply one StatusEvent; False when this event id was applied before (replay).

        Safe with several workers at once: the event id is recorded with ON CONFLICT DO NOTHING
        (a replay racing its original waits for it, then is skipped), and the publication's row
        stays locked (SELECT … FOR UPDATE) until commit, so events of one publication are applied
        one after the other and the overall status always reflects every channel's committed state.
        """
        with self.transaction() as conn:
            return self._apply(conn, event_id, ev)

    def apply_status_many(self, updates: Sequence[tuple[str, StatusEvent]]) -> list[bool]:
        """`apply_status` for a batch, in one transaction (one commit instead of one per event).

        Safe with several workers: a publication's status events share a partition, so one worker
        holds all of one publication's row locks at a time.
        """
        with self.transaction() as conn:
            stale: set[str] = set()  # publications whose overall status waits for the end of the batch
            applied = [self._apply(conn, event_id, ev, stale) for event_id, ev in updates]
            self._refresh_stale(conn, stale)
        return applied

    def _refresh_stale(self, conn: Connection, stale: set[str], only: str | None = None) -> None:
        for publication_id in sorted(stale) if only is None else [only] if only in stale else []:
            row = self._locked_row(conn, publication_id)
            if row is not None:
                self._refresh_overall(conn, row)
            stale.discard(publication_id)

    def _apply(self, conn: Connection, event_id: str, ev: StatusEvent, stale: set[str] | None = None) -> bool:
        """One event; with `stale`, the overall status of a publication is refreshed once per batch
        (before any whole-publication event of it, and at the end), as if after every event."""
        recorded = conn.execute(
            self._insert(timeline).values(
                event_id=event_id, publication_id=ev.publication_id, version=ev.version,
                channel=ev.channel, status=ev.status.value, detail=ev.detail, at=ev.at, actor=ev.actor,
            ).on_conflict_do_nothing(index_elements=[timeline.c.event_id]).returning(timeline.c.event_id)
        ).first()
        if recorded is None:
            return False
        row = self._locked_row(conn, ev.publication_id)
        if ev.publication is not None and (row is None or row.version < ev.publication.version):
            # The API commits a submission's row with its outbox message, so the row is normally
            # here first; this keeps a store restored from an older backup (or events of another
            # writer) from showing published items without a record.
            pub = ev.publication
            self.upsert_publication(conn, pub, row.status if row else DeliveryStatus.pending.value,
                                    list(pub.channels or []))
            row = self._locked_row(conn, ev.publication_id)
        if row is None:
            return True  # status of a publication this store never saw: timeline only
        if ev.channel is None:
            if stale is not None:
                self._refresh_stale(conn, stale, only=ev.publication_id)
                row = self._locked_row(conn, ev.publication_id)
            # A whole-publication event of the current version sets its status -- except that a
            # retracted publication only ever shows retracting/retracted (a late `held` is moot).
            if ev.version >= row.version and (not row.retracted or ev.status is DeliveryStatus.retracted):
                conn.execute(update(publications).where(publications.c.id == ev.publication_id).values(
                    status=ev.status.value, updated_at=utcnow(),
                    retracted=row.retracted or ev.status is DeliveryStatus.retracted))
            return True
        if self._apply_channel(conn, ev) and ev.status.value in OUTCOMES:
            record_outcome(conn, self._insert, event_id, ev)
        if stale is None:
            self._refresh_overall(conn, row)
        else:
            stale.add(ev.publication_id)
        return True

    def _locked_row(self, conn: Connection, publication_id: str) -> Any:
        # FOR UPDATE on PostgreSQL; SQLite has no row locks and needs none (BEGIN IMMEDIATE).
        return conn.execute(select(publications).where(publications.c.id == publication_id).with_for_update()).first()

    def _apply_channel(self, conn: Connection, ev: StatusEvent) -> bool:
        """The channel's state becomes this event's unless it already belongs to a newer version (then False)."""
        stmt = self._insert(deliveries).values(
            publication_id=ev.publication_id, channel=ev.channel, version=ev.version, status=ev.status.value,
            detail=ev.detail, url=ev.url or None, progress=ev.progress, updated_at=ev.at, queued_at=ev.at,
        )
        new = stmt.excluded
        older = or_(deliveries.c.version < new.version, and_(deliveries.c.version == new.version, or_(
            new.progress.is_(None), deliveries.c.progress.is_(None), deliveries.c.progress <= new.progress)))
        # A new version (or a requeue, which starts over from `delivering`) restarts the latency clock.
        restart = or_(deliveries.c.version < new.version, and_(new.status == DeliveryStatus.delivering.value,
                                                                deliveries.c.status.in_(TERMINAL_STATES)))
        result = conn.execute(stmt.on_conflict_do_update(
            index_elements=[deliveries.c.publication_id, deliveries.c.channel],
            set_={"version": new.version, "status": new.status, "detail": new.detail, "progress": new.progress,
                  "url": func.coalesce(new.url, deliveries.c.url), "updated_at": new.updated_at,
                  "queued_at": case((restart, new.queued_at), else_=func.coalesce(deliveries.c.queued_at, new.queued_at))},
            where=older,
        ))
        return bool(result.rowcount)

    def _refresh_overall(self, conn: Connection, row: Any) -> None:
        if row.status in (DeliveryStatus.held.value, DeliveryStatus.scheduled.value) and not row.retracted:
            return  # an operator decision or the clock moves these, not channel events
        states = [r.status for r in conn.execute(select(deliveries.c.status).where(
            deliveries.c.publication_id == row.id, deliveries.c.version >= row.version)).all()]
        conn.execute(update(publications).where(publications.c.id == row.id).values(
            status=overall_status(states, retracted=row.retracted), updated_at=utcnow()))


DOCUMENT_COLUMNS = ("doc_no", "publish_date", "validity", "related_ids")


def document_columns(pub: Publication) -> dict[str, Any]:
    interprets = [r.id for r in pub.related if r.id and r.relation == "interprets"]
    return {"doc_no": pub.doc_no, "publish_date": pub.publish_date, "validity": pub.validity.value,
            "related_ids": json.dumps(interprets)}


def overall_status(channel_states: Sequence[str], *, retracted: bool) -> str:
    states = set(channel_states)
    if retracted:
        return "retracted" if states <= {"retracted", "failed", "dead"} else "retracting"
    if not states:
        return DeliveryStatus.pending.value
    if states == {"delivered"}:
        return "delivered"
    if states <= {"delivered", "failed", "dead"}:
        return "partially_delivered" if "delivered" in states else "failed"
    if "retrying" in states:
        return "retrying"
    return "delivering"
