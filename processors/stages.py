"""Stage functions: plain (async) functions, input model in, output models out.

They know nothing about Kafka or SQLite. Both hosts (processors.embedded and
processors.faust_host) run them through the same topology table
(processors.topology), which maps output models to topics.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel

from adapters.base import ChannelAdapter
from adapters.push.service import PushService
from adapters.spec import Renderer
from persistence.store import StatusStore
from processors.channel_threads import ChannelThreads
from processors.outage import is_outage
from processors.pause_cache import PauseCache
from processors.review_rule import awaiting, needs_review
from processors.screen import screen, stopping, summary
from schemas.delivery import (
    Action,
    Delivered,
    DeliveryResult,
    DeliveryStatus,
    DeliveryTask,
    Pending,
    Rejected,
    Retryable,
    StatusEvent,
    delivery_id,
)
from schemas.publication import Publication
from schemas.screening import Finding, Severity
from settings import Settings

log = logging.getLogger("govcast.stages")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class StageContext:
    """What stages may use besides their input: configuration, the status store, the channel adapters."""

    settings: Settings
    store: StatusStore
    adapters: dict[str, ChannelAdapter]
    clock: Callable[[], dt.datetime] = utcnow
    renderers: dict[str, Renderer] = field(default_factory=dict)
    push: PushService | None = None  # the push feature (processors/target.py's stages), when push is configured
    threads: ChannelThreads = field(default_factory=ChannelThreads)  # where blocking adapters run, per channel
    pauses: PauseCache = field(default_factory=PauseCache)  # the channel pauses, read at most once a second


class ChangeKind(StrEnum):
    submitted = "submitted"
    revised = "revised"
    retracted = "retracted"
    released = "released"
    approved = "approved"  # an operator reviewed what screening held and let it go


# CloudEvents extension attribute of a change event: the status its producer committed in the same transaction as
# the event, together with that status's timeline entry (`scheduled_status`, under the id the plan would give it).
# The submit API sets it to `scheduled` for a submission that waits for its publish_at: the plan has nothing to add.
RECORDED_STATUS = "recordedstatus"


class PublicationChange(BaseModel):
    kind: ChangeKind
    publication: Publication
    recorded: str | None = None  # RECORDED_STATUS of the event, if any


UNKNOWN_OUTCOME = "outcome unknown"  # in the reason of a retry or dead letter whose copy may have been posted


class DeadLetter(BaseModel):
    task: DeliveryTask
    reason: str
    at: dt.datetime


class StatusUpdate(BaseModel):
    """A StatusEvent together with the id of the event that carried it (the projection's dedup key)."""

    event_id: str
    event: StatusEvent


def target_channels(pub: Publication, settings: Settings) -> list[str]:
    return list(pub.channels) if pub.channels else list(settings.channels)


async def plan(change: PublicationChange, ctx: StageContext) -> list[BaseModel]:
    """A publication changed: decide what every channel must do (or hold it for later)."""
    pub, now = change.publication, ctx.clock()
    channels = target_channels(pub, ctx.settings)
    if pub.retracted:
        action = Action.retract
    elif change.kind is not ChangeKind.released and pub.publish_at and pub.publish_at > now:
        if change.kind is ChangeKind.submitted and change.recorded == DeliveryStatus.scheduled.value:
            return []  # the submission committed its `scheduled` status and timeline entry with the event
        return [scheduled_status(pub, now)]
    out: list[BaseModel] = []
    note: list[StatusEvent] = []
    if not pub.retracted:
        action = Action.publish
        findings = screen(pub)
        approved = change.kind is ChangeKind.approved
        if held := stopping(findings, approved=approved):
            return [StatusEvent(publication_id=pub.id, version=pub.version, status=DeliveryStatus.held, at=now,
                                detail=held_detail(held), publication=pub)]
        if not approved and (warnings := [f for f in findings if f.severity is Severity.warn]):
            # It goes out, with a note in the timeline for operators (the status stays what the submission made it).
            # The first task carries it ahead of its own statuses: where the delivery lane projects its statuses
            # itself (Kafka host), a note sent on its own could reach the store after a channel's outcome and set
            # the publication back to pending; carried, the outcome that follows it in one batch recomputes it.
            note.append(StatusEvent(publication_id=pub.id, version=pub.version, status=DeliveryStatus.pending, at=now,
                                    detail="screening notes, published anyway: " + summary(warnings)))
    reviewed = [c for c in channels if action is Action.publish and needs_review(ctx.settings, c, pub)]
    if reviewed and pub.version > 1:
        # A revision posts nothing new where an earlier version is posted already (the post links to the portal
        # page, which carries the revision): no editor needs to see it.
        posted = await asyncio.to_thread(ctx.store.deliveries_of, pub.id)
        reviewed = [c for c in reviewed if (posted.get(c) or {}).get("status") != DeliveryStatus.delivered.value]
    for channel in channels:
        if channel in reviewed:
            out.append(awaiting(pub, channel, now))  # queued by an editor's approval (producers/newmedia_review.py)
            continue
        renderer = ctx.renderers.get(channel)
        rendition = renderer(pub, ctx.settings) if renderer and action is Action.publish else {}
        queued = [StatusEvent(publication_id=pub.id, version=pub.version, channel=channel,
                              status=DeliveryStatus.delivering, at=now,
                              detail="retracting" if action is Action.retract else f"version {pub.version} queued")]
        # What a renderer saw that operators should know (an SMS that cannot fit, …): a note in the timeline.
        queued += [StatusEvent(publication_id=pub.id, version=pub.version, channel=channel,
                               status=DeliveryStatus.delivering, at=now, detail=f"warning: {warning}")
                   for warning in rendition.get("warnings") or []]
        # The task carries these; the delivery stage sends them with its outcome, in one status message
        # (plan_statuses), or the Kafka host's delivery lane projects them itself (Route.projects).
        out.append(DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, channel, action),
                                channel=channel, action=action, publication=pub, rendition=rendition,
                                statuses=(*note, *queued)))
        note = []
    # A note no task took (every channel awaits review) goes out on its own, with the record as it always did.
    return [*(n.model_copy(update={"publication": pub}) for n in note), *out]


def plan_statuses(task: DeliveryTask) -> tuple[DeliveryTask, list[StatusEvent]]:
    """The task without the plan's statuses it carries, and those statuses, ready to send.

    The first carries the publication, as the plan's status always did, for a store that does not know the
    record yet (restored from an older backup). The statuses keep the plan's time, so the timeline and the
    delivery latency read as before; only the moment they reach the store moves to the delivery's outcome.
    """
    if not task.statuses:
        return task, []
    first, *rest = task.statuses
    return (task.model_copy(update={"statuses": ()}),
            [first.model_copy(update={"publication": task.publication}), *rest])


def held_detail(held: list[Finding]) -> str:
    """Why screening held a publication, and who can release it."""
    if any(f.severity is Severity.block for f in held):
        who = "blocked by screening: the department must revise it (an operator cannot approve it)"
    else:
        who = "held for operator review"
    return f"{who}: {summary(held)}"


def retry_delay(attempt: int, hinted: float, settings: Settings) -> float:
    """Growing delay of the retry ladder: at least the platform's hint, doubling per attempt, capped."""
    ladder = settings.retry_base_seconds * 2 ** (attempt - 1)
    return min(max(hinted, ladder), settings.retry_max_seconds)


async def deliver(task: DeliveryTask, ctx: StageContext) -> list[BaseModel]:
    """Hand one task to its channel adapter and turn the typed result into status, retry or dead letter."""
    adapter = ctx.adapters.get(task.channel)
    if adapter is None:
        result: DeliveryResult = Rejected(reason=f"channel {task.channel!r} is not configured on this worker")
    else:
        try:
            # Adapters do blocking I/O (requests, files): in the channel's own bounded pool, so neither the
            # event loop nor the other channels wait for a slow platform.
            result = await ctx.threads.run(task.channel, adapter.deliver, task)
        except Exception as exc:  # an adapter bug must not lose the task: retry it like a transient error
            outage = is_outage(exc)
            log.log(logging.WARNING if outage else logging.ERROR, "adapter %s raised on %s", task.channel,
                    task.delivery_id, exc_info=not outage)
            result = Retryable(reason=f"adapter error: {type(exc).__name__}: {exc}", retry_after=0, outage=outage)
    return outcome(task, result, ctx)


def outcome(task: DeliveryTask, result: DeliveryResult, ctx: StageContext) -> list[BaseModel]:
    """What one typed delivery result means: a status, and for the unfinished a later task or a dead letter."""
    pub, now = task.publication, ctx.clock()

    def status(state: DeliveryStatus, detail: str | None, url: str | None = None) -> StatusEvent:
        return StatusEvent(publication_id=pub.id, version=pub.version, channel=task.channel, status=state,
                           detail=detail, url=url, at=now)

    if isinstance(result, Delivered):
        done = DeliveryStatus.retracted if task.action is Action.retract else DeliveryStatus.delivered
        return [status(done, result.detail, result.url)]
    if isinstance(result, Rejected):
        return [status(DeliveryStatus.failed, f"rejected: {result.reason}" + (f" ({result.code})" if result.code else ""))]
    if isinstance(result, Pending):
        if task.checks >= ctx.settings.max_pending_checks:
            reason = f"no result from the platform after {task.checks} checks: {result.reason}"
            return [DeadLetter(task=task, reason=reason, at=now), status(DeliveryStatus.dead, reason)]
        due = now + dt.timedelta(seconds=min(result.check_after, ctx.settings.retry_max_seconds))
        later = task.model_copy(update={"checks": task.checks + 1, "not_before": due})
        if result.scheduled:  # waits for its send time in one go (like pacing): one status, not one an hour
            later = later.model_copy(update={"not_before": now + dt.timedelta(seconds=result.check_after)})
            return [later, status(DeliveryStatus.scheduled, result.reason)]
        return [later, status(DeliveryStatus.delivering, f"accepted by the platform, awaiting its result: {result.reason}")]
    if isinstance(result, Retryable) and result.outage:  # waited out: no attempt spent, never dead
        due = now + dt.timedelta(seconds=min(max(result.retry_after, ctx.settings.retry_base_seconds),
                                             ctx.settings.retry_max_seconds))
        later = task.model_copy(update={"not_before": due, "last_error": result.reason})
        return [later, status(DeliveryStatus.retrying,
                              f"infrastructure outage, waiting (attempt not counted): {result.reason}; next at {due.isoformat()}")]
    hinted = result.retry_after if isinstance(result, Retryable) else result.reconcile_after
    reason = result.reason if isinstance(result, Retryable) else f"{UNKNOWN_OUTCOME}, will reconcile: {result.reason}"
    if task.attempt >= ctx.settings.max_attempts:
        return [DeadLetter(task=task, reason=reason, at=now),
                status(DeliveryStatus.dead, f"gave up after {task.attempt} attempts: {reason}")]
    due = now + dt.timedelta(seconds=retry_delay(task.attempt, hinted, ctx.settings))
    retry = task.model_copy(update={"attempt": task.attempt + 1, "not_before": due, "last_error": reason})
    return [retry, status(DeliveryStatus.retrying, f"attempt {task.attempt} failed: {reason}; next at {due.isoformat()}")]


async def release_retry(task: DeliveryTask, ctx: StageContext) -> list[BaseModel]:
    """A retry whose time has come goes back to its channel's delivery topic (the host waited for not_before)."""
    return [task]


async def project_status(updates: list[StatusUpdate], ctx: StageContext) -> list[BaseModel]:
    """Status projection into the store (the events of one status message); idempotent by event id."""
    await asyncio.to_thread(ctx.store.apply_status_many, [(u.event_id, u.event) for u in updates])
    return []


async def project_statuses(messages: list[list[StatusUpdate]], ctx: StageContext) -> list[list[BaseModel]]:
    """The projection for a batch of status messages, in one store transaction."""
    await asyncio.to_thread(ctx.store.apply_status_many, [(u.event_id, u.event) for m in messages for u in m])
    return [[] for _ in messages]


def scheduled_status(pub: Publication, now: dt.datetime, *, carried: bool = True) -> StatusEvent:
    """The whole publication waits for its publish_at (the scheduler releases it then). `carried`: the event
    carries the publication (a projection that finds no row for it records it from there)."""
    assert pub.publish_at is not None
    return StatusEvent(publication_id=pub.id, version=pub.version, status=DeliveryStatus.scheduled,
                       detail=f"scheduled for {pub.publish_at.isoformat()}", at=now, publication=pub if carried else None)


def due_releases(ctx: StageContext) -> list[PublicationChange]:
    """Scheduled publications whose time has come (called by each host's timer)."""
    return [PublicationChange(kind=ChangeKind.released, publication=p) for p in ctx.store.due_for_release(ctx.clock())]
