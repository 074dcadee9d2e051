"""What operators steer and watch in the status store: dead letters, channel pauses, per-channel delivery figures,
and the actor of human actions on a publication's timeline.

Shared by both hosts: dead letters reach the store through the `deadletters` route (processors.topology), which
consumes the dead-letter topic on the embedded log and on Kafka alike, so requeueing works the same everywhere.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from persistence.engine import reading
from persistence.tables import channel_pauses, dead_letters, deliveries, delivery_outcomes, timeline
from schemas.delivery import StatusEvent
from schemas.events import CloudEvent, EventType

OUTCOMES = frozenset({"delivered", "retracted", "retrying", "failed", "dead"})
TERMINAL_STATES = ("delivered", "retracted", "failed", "dead", "rejected")
SUCCESS = ("delivered", "retracted")
ERRORS = ("retrying", "failed", "dead")
# Channel deliveries not finished yet: queued, waiting for a paused channel, or waiting for the platform.
BACKLOG_STATES = ("pending", "delivering", "paused")
MALFORMED = "gov.govcast.message.malformed"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def record_outcome(conn: Connection, insert_: Any, event_id: str, ev: StatusEvent) -> None:
    """One delivery outcome of a channel (counted by /metrics and the channels page); latency for successes."""
    latency = None
    if ev.status.value in SUCCESS:
        queued = conn.execute(select(deliveries.c.queued_at).where(
            deliveries.c.publication_id == ev.publication_id, deliveries.c.channel == ev.channel)).scalar()
        if queued is not None:
            latency = max(0, int((ev.at - queued).total_seconds() * 1000))
    conn.execute(insert_(delivery_outcomes).values(
        event_id=event_id, channel=ev.channel, outcome=ev.status.value, latency_ms=latency,
        detail=(ev.detail or "")[:2000], at=ev.at,
    ).on_conflict_do_nothing(index_elements=[delivery_outcomes.c.event_id]))


def record_action(conn: Connection, publication_id: str, version: int, status: str, detail: str, actor: str,
                  channel: str | None = None, at: dt.datetime | None = None) -> None:
    """A human action on the publication's timeline, written in the action's own transaction."""
    conn.execute(insert(timeline).values(
        event_id="act_" + secrets.token_hex(12), publication_id=publication_id, version=version, channel=channel,
        status=status, detail=detail, at=at or _utcnow(), actor=actor,
    ))


@dataclass(frozen=True)
class DeadLetterRow:
    event_id: str
    kind: str
    publication_id: str | None
    version: int | None
    channel: str | None
    recipient: str | None
    reason: str
    event: CloudEvent
    at: dt.datetime
    requeued_at: dt.datetime | None
    requeued_by: str | None

    @property
    def requeueable(self) -> bool:
        return self.kind != "malformed" and self.requeued_at is None


@dataclass(frozen=True)
class Pause:
    channel: str
    paused_by: str
    reason: str
    paused_at: dt.datetime


@dataclass(frozen=True)
class ChannelFigures:
    """One channel's deliveries as the store saw them (the channels page, /metrics)."""

    channel: str
    last_hour: int
    last_day: int
    success_rate: float | None  # successes / finished outcomes in the last day; None without any
    p50_ms: int | None
    p95_ms: int | None
    backlog: int
    retries_waiting: int
    dead_letters: int
    last_success: dt.datetime | None
    last_error: tuple[dt.datetime, str] | None


def describe_dead_letter(event: CloudEvent) -> dict[str, Any]:
    """Columns of a dead-letter row from the event that parked it."""
    data = event.data if isinstance(event.data, dict) else {}
    if event.type == EventType.delivery_dead:  # the retry ladder gave up: data is a stages.DeadLetter
        task = data.get("task") or {}
        pub = task.get("publication") or {}
        return {"kind": "delivery", "publication_id": pub.get("id"), "version": pub.get("version"),
                "channel": task.get("channel"), "recipient": task.get("recipient"),
                "reason": str(data.get("reason") or "gave up")}
    if event.type == MALFORMED:
        return {"kind": "malformed", "publication_id": None, "version": None, "channel": None, "recipient": None,
                "reason": str(data.get("error") or "unreadable message")}
    # A stage failed on this input again and again (poison input): the input itself was parked.
    nested = data.get("publication")
    doc: dict[str, Any] = nested if isinstance(nested, dict) else data
    return {"kind": "parked", "publication_id": event.subject, "version": doc.get("version"),
            "channel": data.get("channel"), "recipient": data.get("recipient"),
            "reason": f"a processing stage failed repeatedly on this {event.type.rsplit('.', 1)[-1]} event"}


def _dead_row(r: Any) -> DeadLetterRow:
    return DeadLetterRow(r.event_id, r.kind, r.publication_id, r.version, r.channel, r.recipient, r.reason,
                         CloudEvent.from_json(r.event), r.at, r.requeued_at, r.requeued_by)


class Operations:
    """Mixed into StatusStore (which provides the engine, the dialect's insert and transactions)."""

    engine: Engine
    _insert: Any
    transaction: Callable[[], AbstractContextManager[Connection]]

    # -- dead letters -------------------------------------------------------
    def record_dead_letter(self, event: CloudEvent, at: dt.datetime | None = None) -> bool:
        """Keep a dead-letter event; False when it was recorded before (replay)."""
        values = describe_dead_letter(event)
        with self.transaction() as conn:
            done = conn.execute(self._insert(dead_letters).values(
                event_id=event.id, event=event.to_json().decode(), at=at or event.time, **values,
            ).on_conflict_do_nothing(index_elements=[dead_letters.c.event_id]).returning(dead_letters.c.event_id)).first()
        return done is not None

    def dead_letters(self, *, channel: str | None = None, publication_id: str | None = None, open_only: bool = True,
                     limit: int = 100) -> list[DeadLetterRow]:
        query = select(dead_letters)
        if channel is not None:
            query = query.where(dead_letters.c.channel == channel)
        if publication_id is not None:
            query = query.where(dead_letters.c.publication_id == publication_id)
        if open_only:
            query = query.where(dead_letters.c.requeued_at.is_(None))
        with reading(self.engine) as conn:
            rows = conn.execute(query.order_by(dead_letters.c.at.desc()).limit(limit)).all()
        return [_dead_row(r) for r in rows]

    def open_dead_letter_counts(self) -> dict[str | None, int]:
        """Dead letters not requeued yet, per channel (None: messages of no channel)."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(dead_letters.c.channel, func.count()).where(
                dead_letters.c.requeued_at.is_(None)).group_by(dead_letters.c.channel)).all()
        return {r[0]: int(r[1]) for r in rows}

    def claim_dead_letters(self, conn: Connection, actor: str, *, event_id: str | None = None,
                           channel: str | None = None) -> list[DeadLetterRow]:
        """Mark open dead letters requeued by `actor` inside `conn`'s transaction and return them for resending.

        One UPDATE … WHERE requeued_at IS NULL … RETURNING: two operators requeueing at once never send one twice.
        """
        cond = and_(dead_letters.c.requeued_at.is_(None), dead_letters.c.kind != "malformed")
        if event_id is not None:
            cond = and_(cond, dead_letters.c.event_id == event_id)
        if channel is not None:
            cond = and_(cond, dead_letters.c.channel == channel)
        if event_id is None and channel is None:
            raise ValueError("name one dead letter or one channel")
        rows = conn.execute(update(dead_letters).where(cond).values(requeued_at=_utcnow(), requeued_by=actor)
                            .returning(*dead_letters.c)).all()
        return sorted((_dead_row(r) for r in rows), key=lambda d: d.at)

    # -- channel pauses -----------------------------------------------------
    def pause_channel(self, channel: str, actor: str, reason: str) -> bool:
        """Pause deliveries of `channel` (they wait, nothing is lost); False when it was paused already."""
        with self.transaction() as conn:
            done = conn.execute(self._insert(channel_pauses).values(
                channel=channel, paused_by=actor, reason=reason, paused_at=_utcnow(),
            ).on_conflict_do_nothing(index_elements=[channel_pauses.c.channel]).returning(channel_pauses.c.channel)).first()
        return done is not None

    def resume_channel(self, channel: str) -> bool:
        """Resume `channel`; False when it was not paused."""
        with self.transaction() as conn:
            return bool(conn.execute(delete(channel_pauses).where(channel_pauses.c.channel == channel)).rowcount)

    def pauses(self) -> dict[str, Pause]:
        with reading(self.engine) as conn:
            rows = conn.execute(select(channel_pauses)).all()
        return {r.channel: Pause(r.channel, r.paused_by, r.reason, r.paused_at) for r in rows}

    # -- per-channel figures ------------------------------------------------
    def channel_figures(self, channels: Sequence[str], now: dt.datetime | None = None) -> dict[str, ChannelFigures]:
        now = now or _utcnow()
        hour, day = now - dt.timedelta(hours=1), now - dt.timedelta(days=1)
        out = delivery_outcomes.c
        with reading(self.engine) as conn:
            counts = {(r.channel, r.outcome): (int(r.hour), int(r.day)) for r in conn.execute(
                select(out.channel, out.outcome, func.count().label("day"),
                       func.count().filter(out.at >= hour).label("hour"))
                .where(out.at >= day).group_by(out.channel, out.outcome)).all()}
            latencies: dict[str, list[int]] = {}
            for r in conn.execute(select(out.channel, out.latency_ms).where(
                    out.at >= day, out.outcome == "delivered", out.latency_ms.is_not(None))).all():
                latencies.setdefault(r.channel, []).append(int(r.latency_ms))
            states = {(r.channel, r.status): int(r.n) for r in conn.execute(
                select(deliveries.c.channel, deliveries.c.status, func.count().label("n"))
                .group_by(deliveries.c.channel, deliveries.c.status)).all()}
            last_ok = dict(conn.execute(select(out.channel, func.max(out.at)).where(out.outcome.in_(SUCCESS))
                                        .group_by(out.channel)).all())
            last_err = {ch: self._last_error(conn, ch) for ch in channels}
        dead = self.open_dead_letter_counts()
        figures = {}
        for ch in channels:
            hour_n = sum(counts.get((ch, o), (0, 0))[0] for o in OUTCOMES if o != "retrying")
            day_n = sum(counts.get((ch, o), (0, 0))[1] for o in OUTCOMES if o != "retrying")
            ok = sum(counts.get((ch, o), (0, 0))[1] for o in SUCCESS)
            lat = sorted(latencies.get(ch, []))
            figures[ch] = ChannelFigures(
                channel=ch, last_hour=hour_n, last_day=day_n, success_rate=ok / day_n if day_n else None,
                p50_ms=percentile(lat, 50), p95_ms=percentile(lat, 95),
                backlog=sum(states.get((ch, s), 0) for s in BACKLOG_STATES),
                retries_waiting=states.get((ch, "retrying"), 0), dead_letters=dead.get(ch, 0),
                last_success=last_ok.get(ch), last_error=last_err[ch],
            )
        return figures

    def _last_error(self, conn: Connection, channel: str) -> tuple[dt.datetime, str] | None:
        out = delivery_outcomes.c
        row = conn.execute(select(out.at, out.detail).where(out.channel == channel, out.outcome.in_(ERRORS))
                           .order_by(out.at.desc()).limit(1)).first()
        return (row.at, row.detail or "") if row else None

    def outcome_totals(self) -> dict[tuple[str, str], int]:
        """All delivery outcomes ever recorded, per (channel, outcome): the /metrics counters."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(delivery_outcomes.c.channel, delivery_outcomes.c.outcome, func.count())
                                .group_by(delivery_outcomes.c.channel, delivery_outcomes.c.outcome)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def latency_buckets(self, bounds_ms: Sequence[int]) -> dict[str, tuple[list[int], int, int]]:
        """Per channel: cumulative counts of successful deliveries at or under each bound, the count and the sum (ms)."""
        out = delivery_outcomes.c
        cols = [func.count().filter(out.latency_ms <= b) for b in bounds_ms]
        with reading(self.engine) as conn:
            rows = conn.execute(select(out.channel, func.count(), func.coalesce(func.sum(out.latency_ms), 0), *cols)
                                .where(out.outcome == "delivered", out.latency_ms.is_not(None))
                                .group_by(out.channel)).all()
        return {r[0]: ([int(x) for x in r[3:]], int(r[1]), int(r[2])) for r in rows}

    def delivery_states(self) -> dict[tuple[str, str], int]:
        """Current channel deliveries per (channel, status)."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(deliveries.c.channel, deliveries.c.status, func.count())
                                .group_by(deliveries.c.channel, deliveries.c.status)).all()
        return {(r[0], r[1]): int(r[2]) for r in rows}


def percentile(ordered: list[int], pct: int) -> int | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    rank = max(1, -(-pct * len(ordered) // 100))
    return ordered[rank - 1]

