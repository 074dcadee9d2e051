"""Publications inside the pipeline are validated once per process, yet a corrupted copy still dead-letters."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.store import StatusStore
from processors.normalize import normalize
from processors.stages import StageContext
from processors.topology import decode_status, decode_task, outbound_for, process, routes
from processors.wire import PublicationCache, weight
from schemas.delivery import Action, DeliveryStatus, DeliveryTask, StatusEvent, delivery_id
from schemas.events import CloudEvent, Topics
from schemas.publication import IndexNo, Publication, PublicationIn
from settings import Settings

CODE = DEMO_DEPARTMENT["publisher_code"]
NOW = dt.datetime(2025, 3, 5, 1, 0, tzinfo=dt.UTC)


def publication(n: int) -> Publication:
    fields = PublicationIn.model_validate(sample_policy(channels=["portal"]))
    return normalize(fields, publication_id=f"pub_wire{n:016d}", version=1, department=CODE,
                     index=IndexNo(code=CODE, year=2025, sequence=n), submitted_at=NOW)


def wire_copy(model: Any, event_id: str) -> CloudEvent:
    """The message as another process reads it from the topic: JSON bytes, parsed again."""
    return CloudEvent.from_json(outbound_for(model, event_id, NOW).event.to_json())


def corrupt(event: CloudEvent, **changes: Any) -> CloudEvent:
    data = {**event.data, "publication": {**event.data["publication"], **changes}}
    return event.model_copy(update={"data": data})


def run(route_name: str, event: CloudEvent, tmp_path: Path) -> list[str] | None:
    tmp_path.mkdir(exist_ok=True)
    settings = Settings(data_dir=tmp_path, channels=["portal"])
    route = next(r for r in routes(settings) if r.name == route_name)
    ctx = StageContext(settings=settings, store=StatusStore(f"sqlite:///{tmp_path}/s.db"), adapters={})

    async def no_wait(seconds: float) -> bool:
        return True

    try:
        outputs = asyncio.run(process(route, event, "key", ctx, no_wait))
        return None if outputs is None else [o.topic for o in outputs]
    finally:
        ctx.store.close()


def task_of(pub: Publication) -> DeliveryTask:
    return DeliveryTask(delivery_id=delivery_id(pub.id, 1, "portal", Action.publish), channel="portal",
                        action=Action.publish, publication=pub)


def test_every_copy_of_an_unchanged_publication_decodes_to_the_one_validated_model() -> None:
    pub = publication(1)
    a = decode_task(wire_copy(task_of(pub), "e1")).publication
    b = decode_task(wire_copy(task_of(pub), "e2")).publication
    status = StatusEvent(publication_id=pub.id, version=1, channel="portal", status=DeliveryStatus.delivering,
                         at=NOW, publication=pub)
    c = decode_status(wire_copy(status, "e3"))[0].event.publication
    assert a is b is c
    assert a == pub


@pytest.mark.parametrize("changes", [{"title": "关于\x00开展培训的通知"}, {"index_no": "not an index"},
                                     {"review": "初审"}], ids=["control character", "bad 索引号", "wrong type"])
def test_a_corrupted_copy_of_a_known_publication_is_parked_on_the_dead_letter_topic(
        changes: dict[str, Any], tmp_path: Path) -> None:
    pub = publication(2)
    good = wire_copy(task_of(pub), "good")
    assert decode_task(good).publication == pub  # the valid copy is known to this process now
    assert run("deliver-portal", corrupt(wire_copy(task_of(pub), "bad-task"), **changes), tmp_path) == [Topics.deadletter]
    status = StatusEvent(publication_id=pub.id, version=1, channel="portal", status=DeliveryStatus.delivering,
                         at=NOW, publication=pub)
    assert run("status", corrupt(wire_copy(status, "bad-status"), **changes), tmp_path / "s") == [Topics.deadletter]


def test_a_backlog_of_a_thousand_notices_stays_remembered_within_the_memory_budget() -> None:
    # A worker working off a backlog plans every queued submission before it delivers the first: a copy
    # forgotten by then would be validated again (issue 16: three full validations per publication).
    cache = PublicationCache()
    pubs = [publication(1000 + n) for n in range(1000)]
    forms = [cache.dumped(p) for p in pubs]
    assert all(cache.validated(dict(form)) is p for p, form in zip(pubs, forms, strict=True))
    small = PublicationCache(budget=weight(pubs[0]) * 10)
    for p in pubs[:20]:
        small.dumped(p)
    assert len(small) == 10
    assert small.validated(dict(forms[19])) is pubs[19] and small.validated(dict(forms[0])) is not pubs[0]
