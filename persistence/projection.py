"""The status projection: StatusEvents from the pipeline into publications, deliveries, timeline and outcomes.

It runs at stream speed by doing a fixed handful of statements per *batch*, not five per event: the
batch's new events are found with one multi-row INSERT … ON CONFLICT DO NOTHING RETURNING into the
timeline (a replayed event id inserts nothing and changes nothing else), the rows it touches are read
once (publications locked FOR UPDATE on PostgreSQL, in id order; on SQLite BEGIN IMMEDIATE already
serialises writers), every event is then applied in order to those rows *in memory* — the same rules as
before, event by event — and the changed rows are written back with one executemany per table. Each
publication's overall status is computed once per batch (and before any whole-publication event of it,
as if after every event). The statements are built once per store: building and cache-keying SQLAlchemy
constructs per event cost far more than SQLite executing them (profile in docs/benchmarks.md).

Only the projection writes `deliveries`, and it holds the publication's lock while it does, so the
state it read at the start of the batch is the state it writes over.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from persistence.operations import OUTCOMES, SUCCESS, TERMINAL_STATES
from persistence.tables import deliveries, delivery_outcomes, publications, timeline
from schemas.delivery import DeliveryStatus, StatusEvent

WHOLE_PUBLICATION_STILL = (DeliveryStatus.held.value, DeliveryStatus.scheduled.value)


@dataclass
class _Publication:
    id: str
    version: int
    status: str
    retracted: bool
    channels: tuple[str, ...] = ()  # its target channels (the submission's), each to get a delivery row
    changed: bool = False

    @classmethod
    def of(cls, row: Any) -> _Publication:
        return cls(row.id, row.version, row.status, bool(row.retracted), tuple(json.loads(row.channels or "[]")))


@dataclass
class _Delivery:
    values: dict[str, Any]
    changed: bool = False


@dataclass
class _Batch:
    pubs: dict[str, _Publication | None] = field(default_factory=dict)
    channels: dict[str, dict[str, _Delivery]] = field(default_factory=dict)  # publication -> channel -> row
    stale: set[str] = field(default_factory=set)  # publications whose overall status waits for the batch's end
    outcomes: list[dict[str, Any]] = field(default_factory=list)


class Projection:
    """Applies batches of (event id, StatusEvent) in one transaction of the caller's connection."""

    def __init__(self, insert: Callable[[Any], Any], postgres: bool,
                 upsert_publication: Callable[[Connection, Any, str, Sequence[str]], object],
                 now: Callable[[], dt.datetime]) -> None:
        self._upsert_publication, self._now = upsert_publication, now
        self._record = insert(timeline).on_conflict_do_nothing(index_elements=[timeline.c.event_id]) \
            .returning(timeline.c.event_id)
        lock = select(publications.c.id, publications.c.version, publications.c.status, publications.c.retracted,
                      publications.c.channels) \
            .where(publications.c.id.in_(bindparam("ids", expanding=True))).order_by(publications.c.id)
        self._lock = lock.with_for_update() if postgres else lock
        self._read_deliveries = select(deliveries).where(deliveries.c.publication_id.in_(bindparam("ids", expanding=True)))
        new = insert(deliveries)
        self._write_delivery = new.on_conflict_do_update(
            index_elements=[deliveries.c.publication_id, deliveries.c.channel],
            set_={c: new.excluded[c] for c in ("version", "status", "detail", "progress", "url", "updated_at", "queued_at")})
        self._write_outcome = insert(delivery_outcomes).on_conflict_do_nothing(index_elements=[delivery_outcomes.c.event_id])
        self._write_publication = update(publications).where(publications.c.id == bindparam("pid")).values(
            status=bindparam("new_status"), retracted=bindparam("new_retracted"), updated_at=bindparam("new_updated_at"))

    def apply(self, conn: Connection, updates: Sequence[tuple[str, StatusEvent]]) -> list[bool]:
        """Apply `updates` in order; per update False when its event id was applied before (a replay)."""
        if not updates:
            return []
        recorded = set(conn.execute(self._record, [timeline_row(event_id, ev) for event_id, ev in updates]).scalars())
        applied: list[bool] = []
        fresh: list[StatusEvent] = []
        for event_id, ev in updates:
            is_new = event_id in recorded
            recorded.discard(event_id)  # the same id twice in one batch: the second is a replay
            applied.append(is_new)
            if is_new:
                fresh.append(ev)
        if fresh:
            batch = self._load(conn, sorted({ev.publication_id for ev in fresh}))
            for (event_id, ev), is_new in zip(updates, applied, strict=True):
                if is_new:
                    self._apply(conn, batch, event_id, ev)
            for publication_id in sorted(batch.stale):
                self._refresh(batch, publication_id)
            self._flush(conn, batch)
        return applied

    # -- reading and writing ---------------------------------------------------------------------
    def _load(self, conn: Connection, ids: list[str]) -> _Batch:
        batch = _Batch()
        batch.pubs = dict.fromkeys(ids)
        batch.channels = {i: {} for i in ids}
        for row in conn.execute(self._lock, {"ids": ids}):
            batch.pubs[row.id] = _Publication.of(row)
        for row in conn.execute(self._read_deliveries, {"ids": ids}):
            batch.channels[row.publication_id][row.channel] = _Delivery(dict(row._mapping))
        return batch

    def _reload_publication(self, conn: Connection, batch: _Batch, publication_id: str) -> _Publication | None:
        row = conn.execute(self._lock, {"ids": [publication_id]}).first()
        batch.pubs[publication_id] = _Publication.of(row) if row else None
        return batch.pubs[publication_id]

    def _flush(self, conn: Connection, batch: _Batch) -> None:
        changed = [d.values for rows in batch.channels.values() for d in rows.values() if d.changed]
        if changed:
            conn.execute(self._write_delivery, changed)
        if batch.outcomes:
            conn.execute(self._write_outcome, batch.outcomes)
        self._flush_publications(conn, [p for p in batch.pubs.values() if p is not None and p.changed])

    def _flush_publications(self, conn: Connection, pubs: list[_Publication]) -> None:
        if pubs:
            now = self._now()
            conn.execute(self._write_publication, [
                {"pid": p.id, "new_status": p.status, "new_retracted": p.retracted, "new_updated_at": now} for p in pubs])
            for p in pubs:
                p.changed = False

    # -- the rules, per event --------------------------------------------------------------------
    def _apply(self, conn: Connection, batch: _Batch, event_id: str, ev: StatusEvent) -> None:
        pub = batch.pubs.get(ev.publication_id)
        if ev.publication is not None and (pub is None or pub.version < ev.publication.version):
            # The API commits a submission's row with its outbox message, so the row is normally here
            # first; this keeps a store restored from an older backup (or events of another writer)
            # from showing published items without a record. Rare: written at once, then re-read.
            self._flush_publications(conn, [pub] if pub is not None and pub.changed else [])
            carried = ev.publication
            self._upsert_publication(conn, carried, pub.status if pub else DeliveryStatus.pending.value,
                                     list(carried.channels or []))
            pub = self._reload_publication(conn, batch, ev.publication_id)
        if pub is None:
            return  # status of a publication this store never saw: timeline only
        if ev.channel is None:
            if ev.publication_id in batch.stale:
                self._refresh(batch, ev.publication_id)
            # A whole-publication event of the current version sets its status -- except that a
            # retracted publication only ever shows retracting/retracted (a late `held` is moot).
            if ev.version >= pub.version and (not pub.retracted or ev.status is DeliveryStatus.retracted):
                pub.status = ev.status.value
                pub.retracted = pub.retracted or ev.status is DeliveryStatus.retracted
                pub.changed = True
            return
        delivery = self._apply_channel(batch, ev)
        if delivery is not None and ev.status.value in OUTCOMES:
            latency = None
            if ev.status.value in SUCCESS and delivery.values["queued_at"] is not None:
                latency = max(0, int((ev.at - delivery.values["queued_at"]).total_seconds() * 1000))
            batch.outcomes.append({"event_id": event_id, "channel": ev.channel, "outcome": ev.status.value,
                                   "latency_ms": latency, "detail": (ev.detail or "")[:2000], "at": ev.at})
        batch.stale.add(ev.publication_id)

    @staticmethod
    def _apply_channel(batch: _Batch, ev: StatusEvent) -> _Delivery | None:
        """The channel's state becomes this event's unless it belongs to a newer version or a later
        fan-out summary (then None)."""
        assert ev.channel is not None
        rows = batch.channels.setdefault(ev.publication_id, {})
        current = rows.get(ev.channel)
        if current is None:
            rows[ev.channel] = current = _Delivery({
                "publication_id": ev.publication_id, "channel": ev.channel, "version": ev.version,
                "status": ev.status.value, "detail": ev.detail, "url": ev.url or None, "progress": ev.progress,
                "updated_at": ev.at, "queued_at": ev.at}, changed=True)
            return current
        old = current.values
        if not (old["version"] < ev.version or (old["version"] == ev.version and (
                ev.progress is None or old["progress"] is None or old["progress"] <= ev.progress))):
            return None
        # A new version (or a requeue, which starts over from `delivering`) restarts the latency clock.
        restart = old["version"] < ev.version or (ev.status is DeliveryStatus.delivering and old["status"] in TERMINAL_STATES)
        old.update(version=ev.version, status=ev.status.value, detail=ev.detail, progress=ev.progress,
                   url=ev.url or old["url"], updated_at=ev.at,
                   queued_at=ev.at if restart or old["queued_at"] is None else old["queued_at"])
        current.changed = True
        return current

    @staticmethod
    def _refresh(batch: _Batch, publication_id: str) -> None:
        batch.stale.discard(publication_id)
        pub = batch.pubs.get(publication_id)
        if pub is None or (pub.status in WHOLE_PUBLICATION_STILL and not pub.retracted):
            return  # an operator decision or the clock moves these, not channel events
        current = {channel: d.values["status"] for channel, d in batch.channels.get(publication_id, {}).items()
                   if d.values["version"] >= pub.version}
        # A target channel without a row of this version yet is queued: the plan's `delivering` status reaches the
        # store with the delivery's first outcome (processors/stages.py plan_statuses), so one channel's outcome
        # must not make the whole publication look done while another's delivery is still on its way.
        states = [*current.values(), *(DeliveryStatus.delivering.value for c in pub.channels if c not in current)]
        pub.status, pub.changed = overall_status(states, retracted=pub.retracted), True


def overall_status(channel_states: Sequence[str], *, retracted: bool) -> str:
    """A publication's status from its channels' states (of its current version)."""
    states = set(channel_states)
    if retracted:
        return "retracted" if states <= {"retracted", "failed", "dead"} else "retracting"
    if not states:
        return DeliveryStatus.pending.value
    if states == {"delivered"}:
        return "delivered"
    if states <= {"delivered", "failed", "dead", "rejected"}:
        return "partially_delivered" if "delivered" in states else "failed"
    if "retrying" in states:
        return "retrying"
    if "awaiting_review" in states and states <= {"awaiting_review", "delivered", "failed", "dead", "rejected"}:
        return "awaiting_review"  # nothing else is moving: an editor's decision is what it waits for
    return "delivering"


def timeline_row(event_id: str, ev: StatusEvent) -> dict[str, Any]:
    return {"event_id": event_id, "publication_id": ev.publication_id, "version": ev.version, "channel": ev.channel,
            "status": ev.status.value, "detail": ev.detail, "at": ev.at, "actor": ev.actor}
