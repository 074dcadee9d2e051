"""The topology table: which stage consumes which topic, and where its outputs go.

Both hosts iterate this table; neither knows what a stage does. A host
consumes `route.sources`, waits for `route.wait_until(item)` when given (retry
topics), calls `route.handle`, sends the returned `Outbound`s and only then
commits the input (at-least-once; effects are idempotent by delivery id and
output event ids are derived from the input id, so a replay repeats itself exactly).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from govcast.settings import Settings
from processors import stages
from processors.bus import Outbound
from processors.stages import ChangeKind, DeadLetter, PublicationChange, StageContext, StatusUpdate
from schemas.delivery import DeliveryTask, StatusEvent
from schemas.events import CloudEvent, EventType, Topics, derived_id, new_event

SOURCE = "/govcast/processors"

_CHANGE_BY_TYPE = {
    EventType.submitted: ChangeKind.submitted,
    EventType.revised: ChangeKind.revised,
    EventType.retracted: ChangeKind.retracted,
    EventType.released: ChangeKind.released,
    EventType.approved: ChangeKind.approved,
}
_TYPE_BY_CHANGE = {v: k for k, v in _CHANGE_BY_TYPE.items()}


def decode_change(event: CloudEvent) -> PublicationChange:
    return PublicationChange(kind=_CHANGE_BY_TYPE[event.type], publication=event.data)


def decode_task(event: CloudEvent) -> DeliveryTask:
    return DeliveryTask.model_validate(event.data)


def decode_status(event: CloudEvent) -> StatusUpdate:
    return StatusUpdate(event_id=event.id, event=StatusEvent.model_validate(event.data))


def outbound_for(model: BaseModel, event_id: str, now: dt.datetime | None = None) -> Outbound:
    """Topic, key and CloudEvent of one stage output."""
    now = now or stages.utcnow()
    if isinstance(model, DeliveryTask):
        delayed = model.not_before is not None and model.not_before > now
        topic = Topics.retry(model.channel) if delayed else Topics.deliveries(model.channel)
        return Outbound(topic, model.partition_key,
                        new_event(EventType.delivery_requested, SOURCE, model.publication.id, model, event_id=event_id))
    if isinstance(model, StatusEvent):
        return Outbound(Topics.status, model.publication_id,
                        new_event(EventType.status_changed, SOURCE, model.publication_id, model, event_id=event_id))
    if isinstance(model, DeadLetter):
        return Outbound(Topics.deadletter, model.task.delivery_id,
                        new_event(EventType.delivery_dead, SOURCE, model.task.publication.id, model, event_id=event_id))
    if isinstance(model, PublicationChange):
        pub = model.publication
        return Outbound(Topics.publications, pub.id,
                        new_event(_TYPE_BY_CHANGE[model.kind], SOURCE, pub.id, pub, event_id=event_id))
    raise TypeError(f"no topic for stage output {type(model).__name__}")


@dataclass(frozen=True)
class Route:
    name: str  # consumer group (embedded) / agent name (faust)
    sources: tuple[str, ...]
    decode: Callable[[CloudEvent], Any]
    stage: Callable[[Any, StageContext], Awaitable[list[BaseModel]]]
    wait_until: Callable[[Any], dt.datetime | None] | None = None

    async def handle(self, event: CloudEvent, ctx: StageContext) -> list[Outbound]:
        outputs = await self.stage(self.decode(event), ctx)
        now = ctx.clock()
        return [outbound_for(model, derived_id(event.id, i), now) for i, model in enumerate(outputs)]


def routes(settings: Settings) -> list[Route]:
    table = [
        Route("plan", (Topics.publications,), decode_change, stages.plan),
        Route("status", (Topics.status,), decode_status, stages.project_status),
    ]
    for channel in settings.channels:
        table.append(Route(f"deliver-{channel}", (Topics.deliveries(channel),), decode_task, stages.deliver))
        table.append(Route(f"retry-{channel}", (Topics.retry(channel),), decode_task, stages.release_retry,
                           wait_until=lambda task: task.not_before))
    return table


def all_topics(settings: Settings) -> list[str]:
    return sorted({t for r in routes(settings) for t in r.sources} | {Topics.deadletter})
