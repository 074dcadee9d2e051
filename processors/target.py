"""The two push stages, over the push feature the stage context names (`StageContext.push`).

Who matches and why is the push feature's (adapters/push/targeting.py); this module is the stream
processing around it.

`fan_out` consumes the channel-wide push task (no recipient) and emits the matched businesses in
chunks (one bus message per CHUNK businesses); each business has a stable delivery id (re-running
emits the same ids; the adapter and the receivers dedupe by it). `deliver_recipients` expands the
chunks and dispatches a batch: it defers for quiet hours and daily caps without spending attempts,
records each recipient's state, and reports one summary of the publication's push per batch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pydantic import BaseModel

from adapters.push.message import REVISED_EVENT
from persistence.push_recipients import RecipientUpdate
from processors import stages
from processors.stages import StageContext
from schemas.delivery import (
    Action,
    Deferral,
    Delivered,
    DeliveryStatus,
    DeliveryTask,
    StatusEvent,
    delivery_id,
    recipient_delivery_id,
)
from schemas.publication import Publication, Validity
from schemas.subscriber import PushChannel

if TYPE_CHECKING:
    from adapters.push.service import PushService
    from persistence.subscribers import SubscriberStore

FANOUT_CHANNELS = frozenset({"push"})  # channel-wide task -> one task per recipient on the "<channel>.recipient" lane
CAMPAIGN_COUNTS = ("matched", "sent", "delivered", "failed", "deferred", "queued", "skipped", "unsubscribed")
TERMINAL_STATES = frozenset({"delivered", "failed", "skipped", "unsubscribed"})
CHUNK = 200  # recipients per fan-out task: 100,000 businesses are 500 tasks on the bus, not 100,000


def lane(channel: str, per_recipient: bool) -> str:
    """The topic suffix a delivery task travels on: per-recipient push tasks (and chunks) have their own topic."""
    return f"{channel}.recipient" if per_recipient and channel in FANOUT_CHANNELS else channel


def slim(pub: Publication) -> Publication:
    """The publication as per-recipient tasks carry it: without the body (the rendition has what a push needs)."""
    return pub.model_copy(update={"body": pub.summary or pub.title})


def summary_event(store: SubscriberStore, pub: Publication, channel: str, ctx: StageContext) -> StatusEvent:
    c = store.summary(pub.id, pub.version)
    outstanding = c["queued"] + c["deferred"] + c["sent"]
    if outstanding:
        status = DeliveryStatus.delivering
    elif c["failed"] and not c["delivered"]:
        status = DeliveryStatus.failed
    else:
        status = DeliveryStatus.delivered
    detail = ", ".join(f"{name} {c[name]}" for name in CAMPAIGN_COUNTS)
    # `progress` orders summaries: those from different partitions may be projected out of order.
    return StatusEvent(publication_id=pub.id, version=pub.version, channel=channel, status=status, detail=detail,
                       at=ctx.clock(), progress=c["matched"] * 2 - outstanding * 2 + (0 if outstanding else 1))


def _push(ctx: StageContext, channel: str) -> PushService | None:
    """The push feature, as the stage context names it (None: push is not configured on this worker)."""
    return ctx.push if channel in FANOUT_CHANNELS else None


async def fan_out(task: DeliveryTask, ctx: StageContext) -> list[BaseModel]:
    """Channel-wide push task -> the matched businesses in chunks of CHUNK (+ the channel's summary status)."""
    if task.recipient is not None or task.recipients:  # per-recipient work that landed here: deliver it
        return await deliver_recipient(task, ctx)
    pub, push = task.publication, _push(ctx, task.channel)
    if push is None:
        return [StatusEvent(publication_id=pub.id, version=pub.version, channel=task.channel,
                            status=DeliveryStatus.failed, detail="the push channel is not configured on this worker",
                            at=ctx.clock())]
    if task.action is Action.retract:
        return [StatusEvent(publication_id=pub.id, version=pub.version, channel=task.channel,
                            status=DeliveryStatus.retracted, at=ctx.clock(),
                            detail="pushed messages cannot be recalled; no further pushes")]
    store: SubscriberStore = push.store

    def match() -> tuple[list[str], list[str]]:
        """(businesses to push it to, businesses that received an earlier version and get a revision event)."""
        done = store.pushed_before(pub.id, pub.version)  # earlier versions reached them already
        revised: list[str] = []
        if pub.validity is not Validity.valid:
            # No longer in force: pushed to nobody new; who received it gets one lapse notice (its
            # delivery id does not depend on the version, so a later revision sends no second one).
            codes = sorted(done) if pub.lapsed_by is not None else []
        else:
            codes = [c for c in push.directory.match(pub.targeting) if c not in done]
            revised = with_webhook(push, sorted(done))
        store.record_queued([(recipient_delivery_id(pub, task.channel, task.action, c), c) for c in codes + revised],
                            pub.id, pub.version)
        return codes, revised

    codes, revised = await asyncio.to_thread(match)
    light = slim(pub)
    out: list[BaseModel] = []
    for label, recipients, rendition in (("chunk", codes, task.rendition),
                                         ("revised", revised, {**task.rendition, "event": REVISED_EVENT})):
        out += [DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, task.channel, task.action, f"{label}:{n}"),
                             channel=task.channel, action=task.action, publication=light,
                             recipients=tuple(recipients[start:start + CHUNK]), rendition=rendition)
                for n, start in enumerate(range(0, len(recipients), CHUNK))]
    out.append(await asyncio.to_thread(summary_event, store, pub, task.channel, ctx))
    return out


def with_webhook(push: PushService, codes: list[str]) -> list[str]:
    """The businesses among `codes` with a working webhook: a revision is news for their systems (the record
    changed: 有效性, text, attachments), not for people, who were told once when it was published."""
    subs = push.directory.get_many(codes) if codes else {}
    return [code for code in codes if (sub := subs.get(code)) is not None
            and PushChannel.webhook in sub.reachable_channels()]


async def deliver_recipient(task: DeliveryTask, ctx: StageContext) -> list[BaseModel]:
    """Deliver one business's push (a batch of one; hosts that batch call `deliver_recipients`)."""
    return (await deliver_recipients([task], ctx))[0]


async def deliver_recipients(inputs: list[DeliveryTask], ctx: StageContext) -> list[list[BaseModel]]:
    """Per-recipient push tasks (or chunks of them) -> outputs per input: deferrals (quiet hours, daily caps)
    without spending attempts, deliveries through the push adapter in one batch, and one campaign summary
    per publication. Retries and deferrals come out per recipient."""
    expanded = [input_task.per_recipient() for input_task in inputs]
    tasks = [task for group in expanded for task in group]
    per_task = await _deliver_each(tasks, ctx)
    out: list[list[BaseModel]] = []
    position = 0
    for group in expanded:
        out.append([model for outputs in per_task[position:position + len(group)] for model in outputs])
        position += len(group)
    return out


async def _deliver_each(tasks: list[DeliveryTask], ctx: StageContext) -> list[list[BaseModel]]:
    push = _push(ctx, tasks[0].channel) if tasks else None
    if push is None:
        return [await stages.deliver(task, ctx) for task in tasks]
    store: SubscriberStore = push.store
    now = ctx.clock()
    states = await asyncio.to_thread(store.recipient_states, [t.delivery_id for t in tasks])
    # A replay after a crash, or a receipt that came in meanwhile: done already.
    live = [t for t in tasks if t.recipient is not None and states.get(t.delivery_id) not in TERMINAL_STATES]
    results = await push.deliver_many(live, now, states=states) if live else {}
    updates: list[RecipientUpdate] = []
    out: list[list[BaseModel]] = []
    for task in tasks:
        result = results.get(task.delivery_id)
        pub, code = task.publication, task.recipient or ""
        if task.recipient is None:
            out.append(await stages.deliver(task, ctx))
            continue
        if result is None or (isinstance(result, Delivered) and task.action is Action.publish):
            out.append([])  # delivered: the recipient's row says so (the adapter wrote it); no task, no event
            continue
        if isinstance(result, Deferral):
            updates.append(RecipientUpdate(task.delivery_id, pub.id, pub.version, code, "deferred",
                                           detail=f"{result.reason}; until {result.until.isoformat()}"))
            out.append([task.model_copy(update={"not_before": result.until})])
            continue
        kept: list[BaseModel] = []
        for model in stages.outcome(task, result, ctx):
            if not isinstance(model, StatusEvent):
                kept.append(model)
            elif model.status in (DeliveryStatus.dead, DeliveryStatus.failed):
                updates.append(RecipientUpdate(task.delivery_id, pub.id, pub.version, code, "failed", detail=model.detail))
            elif model.status is DeliveryStatus.retrying:  # (Pending: the adapter recorded "sent" itself)
                updates.append(RecipientUpdate(task.delivery_id, pub.id, pub.version, code, "deferred",
                                               detail=model.detail))
        out.append(kept)
    await asyncio.to_thread(store.record_many, updates)
    last: dict[tuple[str, int], int] = {}
    for n, task in enumerate(tasks):
        last[(task.publication.id, task.publication.version)] = n
    for n in sorted(last.values()):
        pub = tasks[n].publication
        out[n].append(await asyncio.to_thread(summary_event, store, pub, tasks[n].channel, ctx))
    return out
