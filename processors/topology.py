"""The topology table: which stage consumes which topic, and where its outputs go.

Both hosts iterate this table; neither knows what a stage does. A host
consumes `route.sources`, waits for `route.wait_until(item)` when given (retry
topics), calls `route.handle`, sends the returned `Outbound`s and only then
commits the input (at-least-once; effects are idempotent by delivery id and
output event ids are derived from the input id, so a replay repeats itself exactly).
The status events one input makes about one publication go out as one message (`outbounds`), and a
planned task carries the plan's statuses to its first stage (`sending_plan_statuses`). A delivery route
marked `projects` lets the Kafka host apply its status events to the store in the lane itself
(`handle_local`, `LocalStatuses`) instead of sending them to the status topic: a publication with one
channel costs a Kafka worker three messages (submission in, task out and in), five before 2026-12-03,
seven before 2026-12-02 (docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

from pydantic import BaseModel

from processors import pacing, stages, steering, target, wire
from processors.bus import Outbound
from processors.outage import is_outage
from processors.review_rule import reviewed_channels
from processors.stages import ChangeKind, DeadLetter, PublicationChange, StageContext, StatusUpdate
from schemas.delivery import DeliveryTask, StatusEvent
from schemas.events import CloudEvent, EventType, Topics, derived_id, new_event
from settings import Settings

SOURCE = "/govcast/processors"
RETRY_SHORT_SECONDS = 300.0  # delays up to this wait in govcast.retry.<lane>; longer ones in <...>.later
RETRY_TIERS = ("", "later")
MAX_BATCH_WEIGHT = 1000  # per-recipient pushes dispatched in one batch (a fan-out chunk weighs its recipients)


def recipients_in(event: CloudEvent) -> int:
    data = event.data if isinstance(event.data, dict) else {}
    return max(1, len(data.get("recipients") or ()))
log = logging.getLogger("govcast.topology")

_CHANGE_BY_TYPE = {
    EventType.submitted: ChangeKind.submitted,
    EventType.revised: ChangeKind.revised,
    EventType.retracted: ChangeKind.retracted,
    EventType.released: ChangeKind.released,
    EventType.approved: ChangeKind.approved,
}
_TYPE_BY_CHANGE = {v: k for k, v in _CHANGE_BY_TYPE.items()}


def decode_change(event: CloudEvent) -> PublicationChange:
    data = event.data
    recorded = (event.model_extra or {}).get(stages.RECORDED_STATUS)
    return PublicationChange(kind=_CHANGE_BY_TYPE[event.type],
                             publication=wire.publications.validated(data) if isinstance(data, dict) else data,
                             recorded=recorded if isinstance(recorded, str) else None)


def decode_task(event: CloudEvent) -> DeliveryTask:
    return DeliveryTask.model_validate(wire.with_publication(event.data))


def task_payload(task: DeliveryTask) -> dict[str, Any]:
    return wire.dump_with_publication(task)


def decode_status(event: CloudEvent) -> list[StatusUpdate]:
    """The status events of one message: one, or several of one publication (status_outbound)."""
    data = event.data
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        return [StatusUpdate(event_id=item["event_id"], event=StatusEvent.model_validate(wire.with_publication(item["status"])))
                for item in data["events"]]
    return [StatusUpdate(event_id=event.id, event=StatusEvent.model_validate(wire.with_publication(data)))]


def status_outbound(statuses: list[tuple[str, StatusEvent]]) -> Outbound:
    """Status events of one publication, made while handling one input, as one message.

    Each keeps the event id it would have had as a message of its own (the projection's dedup key), so a
    replay repeats itself exactly; the message takes the first one's id. One event keeps the plain shape.
    """
    (first_id, first), *rest = statuses
    if not rest:
        return outbound_for(first, first_id)
    payload = {"events": [{"event_id": event_id, "status": wire.dump_with_publication(status)}
                          for event_id, status in statuses]}
    return Outbound(Topics.status, first.publication_id,
                    new_event(EventType.status_changed, SOURCE, first.publication_id, payload, event_id=first_id))


@dataclass(frozen=True)
class LocalStatuses:
    """Status events of one publication that a host may apply to the store itself (Route.projects).

    They keep the event ids they would have had in a status message (the projection's dedup key), so
    projecting them here, or sending them (`outbound`) when that fails, or replaying, repeats itself exactly.
    """

    statuses: tuple[tuple[str, StatusEvent], ...]

    def outbound(self) -> Outbound:
        return status_outbound(list(self.statuses))


def outbounds(parent_id: str, outputs: list[BaseModel], now: dt.datetime) -> list[Outbound]:
    """The messages for one input's stage outputs; its status events of one publication share one message."""
    return [m if isinstance(m, Outbound) else m.outbound() for m in outputs_of(parent_id, outputs, now)]


def outputs_of(parent_id: str, outputs: list[BaseModel], now: dt.datetime) -> list[Outbound | LocalStatuses]:
    """`outbounds`, with each publication's status events left as models (LocalStatuses), not serialized."""
    messages: list[Outbound | list[tuple[str, StatusEvent]]] = []
    by_publication: dict[str, list[tuple[str, StatusEvent]]] = {}
    for i, model in enumerate(outputs):
        event_id = derived_id(parent_id, i)
        if not isinstance(model, StatusEvent):
            messages.append(outbound_for(model, event_id, now))
        elif (group := by_publication.get(model.publication_id)) is not None:
            group.append((event_id, model))
        else:
            by_publication[model.publication_id] = group = [(event_id, model)]
            messages.append(group)
    return [m if isinstance(m, Outbound) else LocalStatuses(tuple(m)) for m in messages]


def sending_plan_statuses(stage: Callable[[DeliveryTask, StageContext], Awaitable[list[BaseModel]]]
                          ) -> Callable[[DeliveryTask, StageContext], Awaitable[list[BaseModel]]]:
    """`stage` for a task just planned: the plan's statuses it carries go out first, with the stage's outcome."""
    async def run(task: DeliveryTask, ctx: StageContext) -> list[BaseModel]:
        task, carried = stages.plan_statuses(task)
        return [*carried, *await stage(task, ctx)]

    return run


def sending_plan_statuses_batch(
    batch: Callable[[list[DeliveryTask], StageContext], Awaitable[list[list[BaseModel]]]]
) -> Callable[[list[DeliveryTask], StageContext], Awaitable[list[list[BaseModel]]]]:
    async def run(tasks: list[DeliveryTask], ctx: StageContext) -> list[list[BaseModel]]:
        split = [stages.plan_statuses(t) for t in tasks]
        per_task = await batch([t for t, _ in split], ctx)
        return [[*carried, *outputs] for (_, carried), outputs in zip(split, per_task, strict=True)]

    return run


def outbound_for(model: BaseModel, event_id: str, now: dt.datetime | None = None) -> Outbound:
    """Topic, key and CloudEvent of one stage output."""
    now = now or stages.utcnow()
    if isinstance(model, DeliveryTask):
        delay = (model.not_before - now).total_seconds() if model.not_before is not None else 0.0
        lane = target.lane(model.channel, bool(model.recipient or model.recipients))
        tier = "later" if delay > RETRY_SHORT_SECONDS else ""
        topic = Topics.retry(lane, tier) if delay > 0 else Topics.deliveries(lane)
        return Outbound(topic, model.partition_key, new_event(EventType.delivery_requested, SOURCE, model.publication.id,
                                                              task_payload(model), event_id=event_id))
    if isinstance(model, StatusEvent):
        return Outbound(Topics.status, model.publication_id,
                        new_event(EventType.status_changed, SOURCE, model.publication_id, wire.dump_with_publication(model),
                                  event_id=event_id))
    if isinstance(model, DeadLetter):
        return Outbound(Topics.deadletter, model.task.delivery_id,
                        new_event(EventType.delivery_dead, SOURCE, model.task.publication.id, model, event_id=event_id))
    if isinstance(model, PublicationChange):
        pub = model.publication
        return Outbound(Topics.publications, pub.id,
                        new_event(_TYPE_BY_CHANGE[model.kind], SOURCE, pub.id, wire.publications.dumped(pub),
                                  event_id=event_id))
    raise TypeError(f"no topic for stage output {type(model).__name__}")


UNDECODED: Any = object()  # Route.handle's `item` when the host has not decoded the input


@dataclass(frozen=True)
class Route:
    name: str  # consumer group (embedded) / agent name (faust)
    sources: tuple[str, ...]
    decode: Callable[[CloudEvent], Any]
    stage: Callable[[Any, StageContext], Awaitable[list[BaseModel]]]
    wait_until: Callable[[Any], dt.datetime | None] | None = None
    # Optional: the same stage over many inputs at once (outputs per input). Hosts that fetch in
    # batches use it (per-recipient push: one read, parallel sends, one write per batch).
    batch: Callable[[list[Any], StageContext], Awaitable[list[list[BaseModel]]]] | None = None
    weigh: Callable[[CloudEvent], int] = lambda event: 1  # batches stop growing at MAX_BATCH_WEIGHT
    # One batch at a time per process, across partitions: the stage writes a store with one writer (SQLite).
    # The Kafka host gives such a route one lane for all partitions, whose batches mix them.
    exclusive: bool = False
    # The stage only reads and computes (no store writes, no external effects): the embedded host commits the
    # outputs of every input of one fetch together, one log commit instead of one per input.
    pure: bool = False
    # The host may apply the stage's status events to the status store itself, in its lane (one transaction
    # per run of inputs), instead of sending them to the status topic for the projection agent: every status
    # of one (publication, channel) this route makes comes through the same lane, in order. The Kafka host
    # does (two Kafka messages fewer per publication); the embedded host sends them as before.
    projects: bool = False

    def take_batch(self, events: list[Any], event_of: Callable[[Any], CloudEvent]) -> list[Any]:
        """The leading part of `events` (at least one) whose weight stays within MAX_BATCH_WEIGHT."""
        total = 0
        for n, item in enumerate(events):
            total += self.weigh(event_of(item))
            if total >= MAX_BATCH_WEIGHT:
                return events[:n + 1]
        return events

    async def handle(self, event: CloudEvent, ctx: StageContext, item: Any = UNDECODED) -> list[Outbound]:
        """The stage on one input; `item`: `decode(event)` when the host has it already (one decode per message)."""
        outputs = await self.stage(self.decode(event) if item is UNDECODED else item, ctx)
        return outbounds(event.id, outputs, ctx.clock())

    async def handle_local(self, event: CloudEvent, ctx: StageContext, item: Any = UNDECODED
                           ) -> list[Outbound | LocalStatuses]:
        """`handle`, with the status events left for the host to project (Route.projects)."""
        outputs = await self.stage(self.decode(event) if item is UNDECODED else item, ctx)
        return outputs_of(event.id, outputs, ctx.clock())

    async def handle_many(self, events: list[CloudEvent], ctx: StageContext) -> list[Outbound]:
        assert self.batch is not None
        per_input = await self.batch([self.decode(e) for e in events], ctx)
        now = ctx.clock()
        return [out for event, outputs in zip(events, per_input, strict=True) for out in outbounds(event.id, outputs, now)]


POISON_ATTEMPTS = 5  # a stage that fails this often on one input, for a reason other than an outage, parks it


@overload
async def process(route: Route, event: CloudEvent, key: str, ctx: StageContext,
                  sleep: Callable[[float], Awaitable[bool]], *, item: Any = ...) -> list[Outbound] | None: ...


@overload
async def process(route: Route, event: CloudEvent, key: str, ctx: StageContext,
                  sleep: Callable[[float], Awaitable[bool]], *, local: Literal[True], item: Any = ...
                  ) -> list[Outbound | LocalStatuses] | None: ...


async def process(route: Route, event: CloudEvent, key: str, ctx: StageContext,
                  sleep: Callable[[float], Awaitable[bool]], *, local: bool = False, item: Any = UNDECODED
                  ) -> list[Outbound] | list[Outbound | LocalStatuses] | None:
    """Run `route` on one input with the failure policy both hosts share.

    Returns the outputs to send before committing the input, or None when the host is stopping
    (the input stays uncommitted and is processed again after restart). `sleep(seconds)` returns
    False when the host is stopping. `local`: the status events are left to the host (Route.handle_local).
    `item`: the input already decoded by the host (Route.decode), so that it is not decoded again.
    """
    attempt = 0
    while True:
        try:
            return await (route.handle_local(event, ctx, item) if local else route.handle(event, ctx, item))
        except Exception as exc:
            attempt += 1
            outage = is_outage(exc)
            log.warning("%s failed on event %s (attempt %d%s): %s", route.name, event.id, attempt,
                        ", infrastructure outage: waiting" if outage else "", exc, exc_info=not outage)
            if not outage and attempt >= POISON_ATTEMPTS:
                # A stage that keeps failing on one input must not stall its partition forever:
                # park the input on the dead-letter topic, where operators can see and requeue it.
                return [Outbound(Topics.deadletter, key, event)]
            if not await sleep(min(2.0**attempt, 30.0)):
                return None


def routes(settings: Settings) -> list[Route]:
    table = [
        Route("plan", (Topics.publications,), decode_change, stages.plan, pure=True),
        # Up to 50 status events per store transaction, on both backends: the projection applies a batch
        # with a fixed handful of prepared statements (about 0.15 ms of CPU per event), so even on SQLite,
        # where the transaction holds the one write lock API submissions need too, it is held only briefly.
        Route("status", (Topics.status,), decode_status, stages.project_status, batch=stages.project_statuses,
              weigh=lambda event: MAX_BATCH_WEIGHT // 50, exclusive=True),
        Route("deadletters", (Topics.deadletter,), steering.decode_dead_letter, steering.record_dead_letter),
    ]
    for channel in settings.channels:
        batch = None
        # The first stage to take a planned task sends the plan's statuses it carries (sending_plan_statuses).
        if channel in target.FANOUT_CHANNELS:  # push: match subscribers, then deliver per recipient
            table.append(Route(f"target-{channel}", (Topics.deliveries(channel),), decode_task,
                               sending_plan_statuses(target.fan_out)))
            deliver = steering.pausable(channel, target.deliver_recipient)
            batch = sending_plan_statuses_batch(steering.pausable_batch(channel, target.deliver_recipients))
            channel = target.lane(channel, True)
        elif channel in reviewed_channels(settings):  # send window and daily cap (issue 14)
            deliver = steering.pausable(channel, pacing.paced(stages.deliver))
        else:
            deliver = steering.pausable(channel, stages.deliver)
        deliver = sending_plan_statuses(deliver)
        name = channel.replace(".", "-")
        table.append(Route(f"deliver-{name}", (Topics.deliveries(channel),), decode_task, deliver, batch=batch,
                           weigh=recipients_in, projects=batch is None))
        for tier in RETRY_TIERS:
            table.append(Route(f"retry-{name}" + (f"-{tier}" if tier else ""), (Topics.retry(channel, tier),),
                               decode_task, stages.release_retry, wait_until=lambda task: task.not_before))
    return table


def all_topics(settings: Settings) -> list[str]:
    return sorted({t for r in routes(settings) for t in r.sources} | {Topics.deadletter})
