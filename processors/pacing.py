"""Pacing of the new-media accounts (issue 14): every channel the review rule names posts within the daily send
window and under the account's daily cap.

Outside the send window (GOVCAST_NEWMEDIA_SEND_WINDOW, Beijing time by the pipeline clock) or beyond the day's cap
(GOVCAST_NEWMEDIA_DAILY_CAP, slots in persistence/send_slots.py) a copy waits for the next window in its channel's
retry topic, without spending an attempt, and shows `scheduled` with the time it will go out. Retractions are never
held back (withdrawing a copy is urgent), nor are the retries and result checks of a copy that started in its window.
A copy that fails for good without having been posted -- the platform refused it, or its attempts ran out on
errors that said it was not sent -- gives its slot back, so the cap counts what the account posted. A copy whose
outcome stayed unknown (accepted but never confirmed, or unknown after its last attempt) keeps its slot: it may
have been posted.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from pydantic import BaseModel

from persistence.send_slots import claim_send_slot, release_send_slot
from processors.stages import UNKNOWN_OUTCOME, DeadLetter, StageContext
from processors.steering import Stage
from schemas.delivery import Action, DeliveryStatus, DeliveryTask, StatusEvent
from settings import Settings

CST = dt.timezone(dt.timedelta(hours=8), "CST")  # Asia/Shanghai has had no DST since 1991


def _minutes(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:])


def window_of(settings: Settings) -> tuple[int, int]:
    """The send window as minutes after local midnight, [start, end)."""
    start, end = settings.newmedia_send_window.split("-")
    return _minutes(start), _minutes(end)


def _at(day: dt.date, minutes: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), CST) + dt.timedelta(minutes=minutes)


def next_window(now: dt.datetime, settings: Settings, *, after_today: bool = False) -> dt.datetime | None:
    """When a copy due at `now` may go out: None = now; else the start of the next window (the next day's when
    `after_today`, as for a copy beyond the day's cap)."""
    start, end = window_of(settings)
    local = now.astimezone(CST)
    minute = local.hour * 60 + local.minute
    if after_today:
        return _at(local.date() + dt.timedelta(days=1), start)
    if start <= minute < end:
        return None
    return _at(local.date() + dt.timedelta(days=1 if minute >= end else 0), start)


def wait_for(task: DeliveryTask, until: dt.datetime, why: str, now: dt.datetime) -> list[BaseModel]:
    """The task again at `until` (no attempt spent), and its status once per wait."""
    pub = task.publication
    shown = until.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    later = task.model_copy(update={"not_before": until})
    return [later, StatusEvent(publication_id=pub.id, version=pub.version, channel=task.channel,
                               status=DeliveryStatus.scheduled, at=now, detail=f"{why}: goes out at {shown} (Beijing time)")]


async def gate(task: DeliveryTask, ctx: StageContext) -> list[BaseModel] | None:
    """What pacing makes of `task`: None = send it now (its day's slot is claimed), else the outputs of a wait."""
    if task.action is not Action.publish or task.recipient or task.recipients:
        return None
    if task.attempt > 1 or task.checks:  # started in its window with a slot: its retries and result checks go on
        return None
    settings, now = ctx.settings, ctx.clock()
    if (until := next_window(now, settings)) is not None:
        return wait_for(task, until, f"outside the send window {settings.newmedia_send_window}", now)
    cap = settings.newmedia_daily_cap.get(task.channel)
    if cap is None:
        return None
    day = now.astimezone(CST).date()
    if await asyncio.to_thread(claim_send_slot, ctx.store.engine, task.channel, day, task.delivery_id, cap):
        return None
    return wait_for(task, next_window(now, settings, after_today=True) or now,
                    f"the account's {cap} posts of {day.isoformat()} are used (daily cap)", now)


def unposted_for_good(task: DeliveryTask, outputs: list[BaseModel]) -> bool:
    """Whether the delivery's `outputs` end `task` (a publish) without a post: refused (failed), or dead after
    attempts that all said "not sent" -- not after unanswered result checks or an unknown outcome."""
    if task.action is not Action.publish:
        return False
    ended = {o.status for o in outputs if isinstance(o, StatusEvent) and o.channel == task.channel}
    if DeliveryStatus.failed in ended:
        return True
    dead = [o for o in outputs if isinstance(o, DeadLetter)]
    maybe_posted = task.checks or UNKNOWN_OUTCOME in (task.last_error or "")  # accepted once, or unknown before
    return bool(dead) and not maybe_posted and not any(UNKNOWN_OUTCOME in d.reason for d in dead)


def paced(stage: Stage) -> Stage:
    """`stage` behind the send window and the daily cap; a copy that fails for good unposted frees its slot."""
    async def run(task: DeliveryTask, ctx: StageContext) -> list[BaseModel]:
        if (waiting := await gate(task, ctx)) is not None:
            return waiting
        outputs = await stage(task, ctx)
        if task.channel in ctx.settings.newmedia_daily_cap and unposted_for_good(task, outputs):
            await asyncio.to_thread(release_send_slot, ctx.store.engine, task.channel, task.delivery_id)
        return outputs

    return run
