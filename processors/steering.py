"""What operators steer in the pipeline, on both hosts: channel pauses and the dead-letter record.

A paused channel's deliveries wait in the channel's retry topic and come back every PAUSE_RECHECK_SECONDS
without spending an attempt, so nothing is lost and the pause holds however long it lasts, on the embedded
log and on Kafka alike (no consumer is blocked, no rebalance waits for it). Dead letters are recorded in the
status store, where the console lists and requeues them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

from pydantic import BaseModel

from persistence.operations import Pause
from processors.stages import StageContext
from schemas.delivery import DeliveryStatus, DeliveryTask, StatusEvent
from schemas.events import CloudEvent

PAUSE_RECHECK_SECONDS = 5.0

Stage = Callable[[DeliveryTask, StageContext], Awaitable[list[BaseModel]]]
BatchStage = Callable[[list[DeliveryTask], StageContext], Awaitable[list[list[BaseModel]]]]


async def pause_of(ctx: StageContext, channel: str) -> Pause | None:
    """The channel's pause, as the store held it at most PAUSE_READ_SECONDS ago (processors.pause_cache): a pause
    holds for every delivery checked from a second after the operator is told it does, in every process and node."""
    return await ctx.pauses.of(ctx.store, channel)


def deferred(task: DeliveryTask, pause: Pause, now: dt.datetime) -> list[BaseModel]:
    """The task again in PAUSE_RECHECK_SECONDS (no attempt spent); the status says so once per pause."""
    later = task.model_copy(update={"not_before": now + dt.timedelta(seconds=PAUSE_RECHECK_SECONDS),
                                    "paused_since": task.paused_since or now})
    if task.paused_since is not None or task.recipient or task.recipients:
        return [later]  # already shown as paused; per-recipient pushes show in the campaign counters
    pub = task.publication
    note = StatusEvent(publication_id=pub.id, version=pub.version, channel=task.channel, status=DeliveryStatus.paused,
                       detail=f"channel paused by {pause.paused_by} ({pause.reason}): waiting, nothing is lost", at=now)
    return [later, note]


def pausable(channel: str, stage: Stage) -> Stage:
    async def run(task: DeliveryTask, ctx: StageContext) -> list[BaseModel]:
        if (pause := await pause_of(ctx, channel)) is not None:
            return deferred(task, pause, ctx.clock())
        return await stage(_resumed(task), ctx)

    return run


def pausable_batch(channel: str, batch: BatchStage) -> BatchStage:
    async def run(tasks: list[DeliveryTask], ctx: StageContext) -> list[list[BaseModel]]:
        if (pause := await pause_of(ctx, channel)) is not None:
            now = ctx.clock()
            return [deferred(t, pause, now) for t in tasks]
        return await batch([_resumed(t) for t in tasks], ctx)

    return run


def _resumed(task: DeliveryTask) -> DeliveryTask:
    return task if task.paused_since is None else task.model_copy(update={"paused_since": None})


def decode_dead_letter(event: CloudEvent) -> CloudEvent:
    return event


async def record_dead_letter(event: CloudEvent, ctx: StageContext) -> list[BaseModel]:
    """Keep a dead letter in the store (idempotent by event id) so operators see and requeue it."""
    await asyncio.to_thread(ctx.store.record_dead_letter, event)
    return []
