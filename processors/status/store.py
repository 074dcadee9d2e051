"""The status store: publications, per-channel delivery state, timeline, tokens, idempotency.

Written by the API (accepted submissions) and by the status projection
(StatusEvents from the pipeline); read by the API, console and metrics.
Every write the projection makes is idempotent (timeline rows are keyed by
event id), so replaying the status topic after a crash changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from processors.status.tables import deliveries, idempotency, index_sequences, metadata, publications, timeline, tokens
from schemas.delivery import DeliveryStatus, StatusEvent
from schemas.publication import Publication


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below be the only transaction control
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Connection) -> None:
            # Take the write lock up front: read-then-write transactions in WAL mode
            # would otherwise fail with SQLITE_BUSY instead of waiting their turn.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


@dataclass(frozen=True)
class Principal:
    id: str
    kind: str  # department | operator
    name: str
    publisher_code: str | None


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


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; everything here is stored in UTC.
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


class StatusStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        metadata.create_all(self.engine)
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- tokens -------------------------------------------------------------
    def add_token(self, principal: Principal, token_hash: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                insert(tokens).values(
                    id=principal.id, kind=principal.kind, name=principal.name,
                    publisher_code=principal.publisher_code, token_hash=token_hash, created_at=utcnow(), revoked=False,
                )
            )

    def principal_for(self, token_hash: str) -> Principal | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tokens).where(tokens.c.token_hash == token_hash, tokens.c.revoked.is_(False))).first()
        return Principal(row.id, row.kind, row.name, row.publisher_code) if row else None

    def count_tokens(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tokens)).scalar_one())

    # -- idempotency --------------------------------------------------------
    def idempotent_answer(self, conn: Connection, principal: str, key: str) -> tuple[str, int, dict[str, Any]] | None:
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

    def upsert_publication(self, conn: Connection, pub: Publication, status: str, channels: Sequence[str]) -> None:
        """Record `pub` as the current version unless a newer version is already known."""
        now = utcnow()
        values = dict(
            department=pub.department, kind=pub.kind.value, title=pub.title, index_no=pub.index_no_text,
            category=pub.category, version=pub.version, status=status, channels=json.dumps(list(channels)),
            publish_at=pub.publish_at, retracted=pub.retracted, doc=pub.model_dump_json(), updated_at=now,
        )
        existing = conn.execute(select(publications.c.version).where(publications.c.id == pub.id)).first()
        if existing is None:
            conn.execute(insert(publications).values(id=pub.id, created_at=now, **values))
        elif existing.version <= pub.version:
            conn.execute(update(publications).where(publications.c.id == pub.id).values(**values))

    def publication_row(self, publication_id: str, conn: Connection | None = None) -> Any:
        if conn is not None:
            return conn.execute(select(publications).where(publications.c.id == publication_id)).first()
        with self.engine.connect() as c:
            return c.execute(select(publications).where(publications.c.id == publication_id)).first()

    def publication(self, publication_id: str) -> Publication | None:
        row = self.publication_row(publication_id)
        return Publication.model_validate_json(row.doc) if row else None

    def find_by_index_no(self, index_no: str, conn: Connection | None = None) -> Any:
        if conn is not None:
            return conn.execute(select(publications).where(publications.c.index_no == index_no)).first()
        with self.engine.connect() as c:
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
                retracted=pub.retracted, doc=pub.model_dump_json(), updated_at=utcnow(),
            )
        )
        return result.rowcount == 1

    def counts_by_status(self) -> dict[str, int]:
        """Number of publications per overall status (for the metrics gauge)."""
        with self.engine.connect() as conn:
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
            query = query.where(publications.c.channels.contains(f'"{flt.channel}"'))
        if flt.since:
            query = query.where(publications.c.created_at >= flt.since)
        if flt.until:
            query = query.where(publications.c.created_at < flt.until)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            rows = conn.execute(
                query.order_by(publications.c.created_at.desc(), publications.c.id).limit(flt.limit).offset(flt.offset)
            ).all()
        return int(total), list(rows)

    def deliveries_of(self, publication_id: str) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(deliveries).where(deliveries.c.publication_id == publication_id)).all()
        return {
            r.channel: {"status": r.status, "version": r.version, "url": r.url, "detail": r.detail,
                        "updated_at": _aware(r.updated_at)}
            for r in rows
        }

    def timeline_of(self, publication_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(timeline).where(timeline.c.publication_id == publication_id).order_by(timeline.c.at, timeline.c.event_id)
            ).all()
        return [
            {"at": _aware(r.at), "channel": r.channel, "status": r.status, "version": r.version, "detail": r.detail}
            for r in rows
        ]

    def due_for_release(self, now: dt.datetime) -> list[Publication]:
        """Scheduled publications whose time has come and whose current version is not yet released."""
        with self.engine.connect() as conn:
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
        """Apply one StatusEvent; False when this event id was applied before (replay)."""
        with self.transaction() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(timeline).values(
                            event_id=event_id, publication_id=ev.publication_id, version=ev.version,
                            channel=ev.channel, status=ev.status.value, detail=ev.detail, at=ev.at,
                        )
                    )
            except IntegrityError:
                return False
            row = self.publication_row(ev.publication_id, conn)
            if ev.publication is not None and (row is None or row.version < ev.publication.version):
                # The API records a submission before answering; this covers a crash between
                # its bus append and its commit, so no published item is missing from the store.
                pub = ev.publication
                self.upsert_publication(conn, pub, row.status if row else DeliveryStatus.pending.value,
                                        [c.value for c in pub.channels or []])
                row = self.publication_row(ev.publication_id, conn)
            if row is None:
                return True  # status of a publication this store never saw: timeline only
            if ev.channel is None:
                if ev.version >= row.version:
                    conn.execute(update(publications).where(publications.c.id == ev.publication_id).values(
                        status=ev.status.value, updated_at=utcnow(),
                        retracted=row.retracted or ev.status is DeliveryStatus.retracted))
                return True
            self._apply_channel(conn, ev)
            self._refresh_overall(conn, row)
            return True

    def _apply_channel(self, conn: Connection, ev: StatusEvent) -> None:
        current = conn.execute(
            select(deliveries).where(deliveries.c.publication_id == ev.publication_id, deliveries.c.channel == ev.channel)
        ).first()
        values = dict(version=ev.version, status=ev.status.value, detail=ev.detail, updated_at=ev.at)
        if ev.url:
            values["url"] = ev.url
        if current is None:
            conn.execute(insert(deliveries).values(publication_id=ev.publication_id, channel=ev.channel, **values))
        elif ev.version >= current.version:
            conn.execute(update(deliveries).where(
                deliveries.c.publication_id == ev.publication_id, deliveries.c.channel == ev.channel).values(**values))

    def _refresh_overall(self, conn: Connection, row: Any) -> None:
        if row.status in (DeliveryStatus.held.value, DeliveryStatus.scheduled.value) and not row.retracted:
            return  # an operator decision or the clock moves these, not channel events
        states = [r.status for r in conn.execute(select(deliveries.c.status).where(
            deliveries.c.publication_id == row.id, deliveries.c.version >= row.version)).all()]
        conn.execute(update(publications).where(publications.c.id == row.id).values(
            status=overall_status(states, retracted=row.retracted), updated_at=utcnow()))


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
