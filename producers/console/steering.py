"""Operator actions on deliveries: retry one now, requeue dead letters, pause and resume a channel.

Like `producers.publishing`, each action writes its store rows and its bus messages (into the transactional
outbox) in one store transaction; the outbox relay then puts the messages on the bus. Every action names its actor, which the
status projection writes on the publication's timeline.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection

from adapters import channels
from persistence import audit
from persistence.operations import DeadLetterRow
from persistence.store import Principal, StatusStore
from processors.bus import Outbound
from processors.outbox import OutboxRelay, enqueue
from processors.topology import outbound_for
from producers.auth import actor_of
from producers.errors import Conflict, Forbidden, NotFound
from schemas.delivery import Action, DeliveryStatus, DeliveryTask, StatusEvent, delivery_id
from schemas.events import EventType, Topics
from schemas.publication import Publication
from settings import Settings

log = logging.getLogger("govcast.console")

RETRYABLE_STATES = frozenset({"failed", "retrying", "dead"})
_CHANGE_TYPES = frozenset({EventType.submitted, EventType.revised, EventType.retracted, EventType.released,
                           EventType.approved})


def _require_operator(principal: Principal) -> None:
    if principal.kind != "operator":
        raise Forbidden("only operators retry, requeue, pause and resume deliveries")


def _event_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class Steering:
    settings: Settings
    store: StatusStore
    relay: OutboxRelay

    def _send(self, messages: list[Outbound], conn: Connection | None = None,
              audited: tuple[Principal, str, str, dict[str, object]] | None = None) -> None:
        """Into the outbox (and the audit trail), in `conn`'s transaction or one of its own, then relayed to the bus."""
        if conn is not None:
            enqueue(conn, messages)
            return
        with self.store.transaction() as own:
            enqueue(own, messages)
            if audited is not None:
                audit.record(own, *audited)
        self.relay.after_commit()

    def retry_now(self, principal: Principal, publication_id: str, channel: str) -> str:
        """Deliver one channel of a publication again now (failed, retrying or dead); returns what was done."""
        _require_operator(principal)
        row = self.store.publication_row(publication_id)
        if row is None:
            raise NotFound(f"no publication {publication_id!r}")
        state = self.store.deliveries_of(publication_id).get(channel)
        if state is None or state["status"] not in RETRYABLE_STATES:
            shown = state["status"] if state else "not targeted"
            raise Conflict(f"the {channel} delivery is {shown}: only failed, retrying or dead deliveries are retried")
        letters = [d for d in self.store.dead_letters(publication_id=publication_id)
                   if d.channel == channel and d.recipient is None]
        if letters:  # a dead delivery: requeue its dead letter, so it is not requeued a second time later
            self.requeue(principal, event_id=letters[0].event_id)
            return "requeued"
        pub = Publication.model_validate_json(row.doc)
        action = Action.retract if pub.retracted else Action.publish
        renderer = channels.renderers().get(channel)
        task = DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, channel, action), channel=channel, action=action,
                            publication=pub,
                            rendition=renderer(pub, self.settings) if renderer and action is Action.publish else {})
        now = dt.datetime.now(dt.UTC)
        note = StatusEvent(publication_id=pub.id, version=pub.version, channel=channel, status=DeliveryStatus.delivering,
                           detail="retry now requested", at=now, actor=actor_of(principal))
        # The task carries the status to the delivery, which sends (or on Kafka projects) it ahead of its outcome:
        # sent on its own, it could reach the store after a fast `delivered` and overwrite it.
        task = task.model_copy(update={"statuses": (note,)})
        self._send([outbound_for(task, _event_id("retry"), now)],
                   audited=(principal, "delivery.retry", pub.id, {"channel": channel, "version": pub.version}))
        log.info("%s asked to retry %s on %s now", principal.name, publication_id, channel)
        return "retried"

    def requeue(self, principal: Principal, *, event_id: str | None = None, channel: str | None = None) -> int:
        """Send dead letters back into the pipeline: one (by id) or all open ones of a channel; returns how many."""
        _require_operator(principal)
        if channel is not None:
            self._known(channel)
        actor = actor_of(principal)
        with self.store.transaction() as conn:
            letters = self.store.claim_dead_letters(conn, actor, event_id=event_id, channel=channel)
            if event_id is not None and not letters:
                raise Conflict("this dead letter was requeued already (or does not exist)")
            messages = [m for letter in letters for m in self._requeued(letter, actor)]
            if messages:
                self._send(messages, conn)
            if letters:
                audit.record(conn, principal, "deadletter.requeue", event_id or f"channel:{channel}",
                             {"count": len(letters), "channel": channel,
                              "publications": sorted({d.publication_id or "" for d in letters})[:50]})
        self.relay.after_commit()
        log.info("%s requeued %d dead letter(s)%s", principal.name, len(letters), f" of {channel}" if channel else "")
        return len(letters)

    def _requeued(self, letter: DeadLetterRow, actor: str) -> list[Outbound]:
        event, now = letter.event, dt.datetime.now(dt.UTC)
        if event.type == EventType.delivery_dead:
            task = DeliveryTask.model_validate(event.data["task"])
        elif event.type == EventType.delivery_requested:
            task = DeliveryTask.model_validate(event.data)
        elif event.type in _CHANGE_TYPES:
            return [Outbound(Topics.publications, event.subject or letter.event_id, event)]
        elif event.type == EventType.status_changed:
            return [Outbound(Topics.status, event.subject or letter.event_id, event)]
        else:
            return []
        statuses: tuple[StatusEvent, ...] = ()
        if not task.recipient and not task.recipients:
            # The task carries the status to the delivery, which sends (or on Kafka projects) it ahead of its
            # outcome: a fast delivery's `delivered` must come after this `delivering`, not be overwritten by it.
            pub = task.publication
            statuses = (StatusEvent(
                publication_id=pub.id, version=pub.version, channel=task.channel, status=DeliveryStatus.delivering,
                detail=f"dead letter requeued (was: {letter.reason[:300]})", at=now, actor=actor),)
        fresh = task.model_copy(update={"attempt": 1, "checks": 0, "not_before": None, "last_error": None,
                                        "paused_since": None, "statuses": statuses})
        return [outbound_for(fresh, _event_id("requeue"), now)]

    def pause(self, principal: Principal, channel: str, reason: str) -> bool:
        _require_operator(principal)
        self._known(channel)
        done = self.store.pause_channel(channel, actor_of(principal), reason)
        if done:
            audit.record_now(self.store.engine, principal, "channel.pause", channel, {"reason": reason})
        log.warning("%s paused channel %s: %s", principal.name, channel, json.dumps(reason, ensure_ascii=False))
        return done

    def resume(self, principal: Principal, channel: str) -> bool:
        _require_operator(principal)
        self._known(channel)
        done = self.store.resume_channel(channel)
        if done:
            audit.record_now(self.store.engine, principal, "channel.resume", channel)
        log.warning("%s resumed channel %s", principal.name, channel)
        return done

    def _known(self, channel: str) -> None:
        if channel not in self.settings.channels:
            raise NotFound(f"no channel {channel!r} here; configured: {', '.join(self.settings.channels)}")
