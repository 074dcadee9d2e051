"""Retry tiers: a delayed task waits in its topic in order, so a task due in a second must not queue behind one
due tomorrow morning (a quiet-hours deferral, a quota reset). Short delays and long ones use different topics."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import ClassVar

from persistence.store import StatusStore
from processors.embedded.host import EmbeddedHost
from processors.embedded.log import SqliteLog
from processors.stages import StageContext
from processors.topology import RETRY_SHORT_SECONDS, outbound_for
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryTask, delivery_id
from schemas.events import Topics
from settings import Settings
from tests.adapters.newmedia_support import publication

NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)


class Recorder:
    channel: ClassVar[str] = "portal"

    def __init__(self) -> None:
        self.delivered: list[str] = []

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        self.delivered.append(task.last_error or "")
        return Delivered(detail="recorded")

    def close(self) -> None:
        pass


PUB = publication()


def task(not_before: dt.datetime | None, note: str) -> DeliveryTask:
    pub = PUB  # one publication: channel-wide tasks are keyed by it, so all of these share a partition
    return DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, "portal", Action.publish), channel="portal",
                        action=Action.publish, publication=pub, not_before=not_before, last_error=note)


def test_delays_pick_their_tier() -> None:
    short = outbound_for(task(NOW + dt.timedelta(seconds=30), "soon"), "e1", NOW)
    long = outbound_for(task(NOW + dt.timedelta(seconds=RETRY_SHORT_SECONDS + 1), "tomorrow"), "e2", NOW)
    due = outbound_for(task(NOW - dt.timedelta(seconds=1), "now"), "e3", NOW)
    assert (short.topic, long.topic, due.topic) == (Topics.retry("portal"), Topics.retry("portal", "later"),
                                                    Topics.deliveries("portal"))
    assert short.key == long.key  # same partition key: without tiers the short one would wait behind the long one


def test_a_short_retry_is_not_held_up_by_a_long_deferral(tmp_path: Path) -> None:
    recorder = Recorder()
    ctx = StageContext(settings=Settings(data_dir=tmp_path, channels=["portal"]),
                       store=StatusStore(f"sqlite:///{tmp_path}/s.db"), adapters={"portal": recorder})
    log = SqliteLog(tmp_path / "bus.db")
    now = ctx.clock()
    log.send([outbound_for(task(now + dt.timedelta(hours=9), "at 08:00"), "e-long", now),
              outbound_for(task(now + dt.timedelta(seconds=0.5), "in half a second"), "e-short", now)])
    host = EmbeddedHost(log, ctx)

    async def run_for(seconds: float) -> None:
        runner = asyncio.create_task(host.run())
        await asyncio.sleep(seconds)
        host.stop()
        await runner

    asyncio.run(run_for(3.0))
    assert recorder.delivered == ["in half a second"]
