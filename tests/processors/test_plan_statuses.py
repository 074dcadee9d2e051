"""A planned delivery's statuses travel in its task and reach the store with its outcome, in one message.

Through the topology table in process (the route handlers both hosts run), with messages copied through
JSON as another process reads them from the topic.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.store import StatusStore
from processors.bus import Outbound
from processors.normalize import normalize
from processors.stages import ChangeKind, PublicationChange, StageContext
from processors.topology import Route, outbound_for, process, routes
from schemas.delivery import Delivered, DeliveryResult, DeliveryTask, Retryable
from schemas.events import CloudEvent, Topics, derived_id
from schemas.publication import IndexNo, Publication, PublicationIn
from settings import Settings

CODE = DEMO_DEPARTMENT["publisher_code"]
NOW = dt.datetime(2025, 3, 5, 1, 0, tzinfo=dt.UTC)


class Scripted:
    channel: ClassVar[str] = "portal"

    def __init__(self, *results: DeliveryResult) -> None:
        self.results = list(results)

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        return self.results.pop(0)

    def close(self) -> None:
        pass


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[StageContext]:
    settings = Settings(data_dir=tmp_path, channels=["portal"], retry_base_seconds=5)
    ticks = iter(range(1_000_000))  # a clock that moves: the timeline lists events in time order
    context = StageContext(settings=settings, store=StatusStore(f"sqlite:///{tmp_path}/s.db"), adapters={},
                           clock=lambda: NOW + dt.timedelta(seconds=next(ticks)))
    yield context
    context.store.close()


def submitted(ctx: StageContext) -> tuple[Publication, CloudEvent]:
    fields = PublicationIn.model_validate(sample_policy(channels=["portal"]))
    pub = normalize(fields, publication_id="pub_planstatus0000001", version=1, department=CODE,
                    index=IndexNo(code=CODE, year=2025, sequence=1), submitted_at=NOW)
    with ctx.store.transaction() as conn:  # as the submit API records it
        ctx.store.upsert_publication(conn, pub, "pending", ["portal"])
    change = PublicationChange(kind=ChangeKind.submitted, publication=pub)
    return pub, outbound_for(change, "ev-submitted", NOW).event


def route(ctx: StageContext, name: str) -> Route:
    return next(r for r in routes(ctx.settings) if r.name == name)


def handle(ctx: StageContext, name: str, event: CloudEvent) -> list[Outbound]:
    outputs = asyncio.run(route(ctx, name).handle(event, ctx))
    return [Outbound(o.topic, o.key, CloudEvent.from_json(o.event.to_json())) for o in outputs]  # over the wire


def project(ctx: StageContext, message: Outbound) -> None:
    assert message.topic == Topics.status
    assert handle(ctx, "status", message.event) == []


def timeline(ctx: StageContext, pub: Publication) -> list[tuple[str | None, str, str | None]]:
    return [(e["channel"], e["status"], e["detail"]) for e in ctx.store.timeline_of(pub.id)]


def test_the_plan_sends_only_the_task_and_the_outcome_brings_its_statuses(ctx: StageContext) -> None:
    pub, event = submitted(ctx)
    planned = handle(ctx, "plan", event)
    assert [o.topic for o in planned] == [Topics.deliveries("portal")]  # no status message of its own

    ctx.adapters["portal"] = Scripted(Delivered(url="https://portal/a.html"))
    delivered = handle(ctx, "deliver-portal", planned[0].event)
    assert [o.topic for o in delivered] == [Topics.status]  # queued + delivered: one message
    project(ctx, delivered[0])
    assert timeline(ctx, pub) == [("portal", "delivering", "version 1 queued"), ("portal", "delivered", None)]
    row = ctx.store.deliveries_of(pub.id)["portal"]
    assert (row["status"], row["url"]) == ("delivered", "https://portal/a.html")
    assert ctx.store.publication_row(pub.id).status == "delivered"

    # Each status keeps the id it would have had as its own message: a replayed message changes nothing.
    ids = [item["event_id"] for item in delivered[0].event.data["events"]]
    assert ids == [derived_id(planned[0].event.id, 0), derived_id(planned[0].event.id, 1)]
    project(ctx, delivered[0])
    assert len(ctx.store.timeline_of(pub.id)) == 2


def test_a_retried_delivery_sends_the_plan_statuses_once(ctx: StageContext) -> None:
    pub, event = submitted(ctx)
    task_message = handle(ctx, "plan", event)[0]
    ctx.adapters["portal"] = Scripted(Retryable(reason="HTTP 503", retry_after=0), Delivered())
    first = handle(ctx, "deliver-portal", task_message.event)
    assert sorted(o.topic for o in first) == sorted([Topics.retry("portal", ""), Topics.status])
    retry = next(o for o in first if o.topic != Topics.status)
    assert retry.event.data["statuses"] == []  # the retry does not carry them again
    project(ctx, next(o for o in first if o.topic == Topics.status))
    assert ctx.store.deliveries_of(pub.id)["portal"]["status"] == "retrying"

    again = handle(ctx, "retry-portal", retry.event)
    for message in handle(ctx, "deliver-portal", again[0].event):
        project(ctx, message)
    assert [s for _, s, _ in timeline(ctx, pub)] == ["delivering", "retrying", "delivered"]
    assert ctx.store.publication_row(pub.id).status == "delivered"


def test_a_paused_channel_shows_paused_not_queued(ctx: StageContext) -> None:
    pub, event = submitted(ctx)
    task_message = handle(ctx, "plan", event)[0]
    ctx.store.pause_channel("portal", "operator", "maintenance")
    outputs = handle(ctx, "deliver-portal", task_message.event)
    for message in (o for o in outputs if o.topic == Topics.status):
        project(ctx, message)
    assert [s for _, s, _ in timeline(ctx, pub)] == ["delivering", "paused"]
    assert ctx.store.deliveries_of(pub.id)["portal"]["status"] == "paused"


def test_a_corrupted_task_still_dead_letters(ctx: StageContext) -> None:
    _, event = submitted(ctx)
    task_message = handle(ctx, "plan", event)[0]
    data = {**task_message.event.data, "statuses": [{"status": "no such status"}]}
    broken = task_message.event.model_copy(update={"data": data})
    ctx.adapters["portal"] = adapter = Scripted(Delivered())

    async def no_wait(seconds: float) -> bool:
        return True

    outputs = asyncio.run(process(route(ctx, "deliver-portal"), broken, "key", ctx, no_wait))
    assert outputs is not None and [o.topic for o in outputs] == [Topics.deadletter]
    assert adapter.results  # nothing was posted
