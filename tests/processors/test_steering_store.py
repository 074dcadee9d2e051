"""What operators steer, in the status store on both backends: dead letters, pauses, delivery figures, actors."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from persistence.store import StatusStore
from processors import steering
from processors.pause_cache import PAUSE_READ_SECONDS, PauseCache
from processors.stages import DeadLetter, StageContext
from processors.topology import outbound_for
from schemas.delivery import Action, DeliveryStatus, DeliveryTask, StatusEvent, delivery_id
from schemas.events import new_event
from settings import Settings
from tests.processors.test_status_store import event, pub, record

S = DeliveryStatus


def task_for(n: int, channel: str = "weibo") -> DeliveryTask:
    p = pub(n)
    return DeliveryTask(delivery_id=delivery_id(p.id, 1, channel, Action.publish), channel=channel,
                        action=Action.publish, publication=p, attempt=6)


def dead_event(n: int, channel: str = "weibo") -> object:
    letter = DeadLetter(task=task_for(n, channel), reason="gave up after 6 attempts: system error (10001)",
                        at=dt.datetime.now(dt.UTC))
    return outbound_for(letter, f"dead-{channel}-{n}").event


def test_dead_letters_are_recorded_once_listed_per_channel_and_requeued_once(store: StatusStore) -> None:
    for n in (1, 2):
        assert store.record_dead_letter(dead_event(n))  # type: ignore[arg-type]
    assert store.record_dead_letter(dead_event(3, "wechat"))  # type: ignore[arg-type]
    assert not store.record_dead_letter(dead_event(1))  # type: ignore[arg-type]  # replayed: kept once
    weibo = store.dead_letters(channel="weibo")
    assert [d.publication_id for d in weibo] == [pub(2).id, pub(1).id]  # newest first
    assert weibo[0].kind == "delivery" and "10001" in weibo[0].reason and weibo[0].requeueable
    assert store.open_dead_letter_counts() == {"weibo": 2, "wechat": 1}

    with store.transaction() as conn:
        claimed = store.claim_dead_letters(conn, "值班员 (操作员)", channel="weibo")
    assert sorted(d.publication_id for d in claimed) == [pub(1).id, pub(2).id]
    with store.transaction() as conn:  # a second operator clicking the same button finds nothing left
        assert store.claim_dead_letters(conn, "另一位 (操作员)", channel="weibo") == []
    assert store.open_dead_letter_counts() == {"wechat": 1}
    done = store.dead_letters(channel="weibo", open_only=False)
    assert {d.requeued_by for d in done} == {"值班员 (操作员)"} and not any(d.requeueable for d in done)


def test_an_unreadable_message_is_shown_but_not_requeued(store: StatusStore) -> None:
    bad = new_event("gov.govcast.message.malformed", "/govcast/processors", None,
                    {"topic": "govcast.status", "error": "ValidationError: not JSON", "value": "garbage"})
    store.record_dead_letter(bad)
    [row] = store.dead_letters()
    assert row.kind == "malformed" and "not JSON" in row.reason and not row.requeueable
    with store.transaction() as conn:
        assert store.claim_dead_letters(conn, "x", event_id=bad.id) == []


def test_pause_and_resume_are_visible_and_idempotent(store: StatusStore) -> None:
    assert store.pause_channel("weibo", "值班员 (操作员)", "账号维护")
    assert not store.pause_channel("weibo", "另一位 (操作员)", "again")  # the first pause stands
    [pause] = store.pauses().values()
    assert (pause.channel, pause.paused_by, pause.reason) == ("weibo", "值班员 (操作员)", "账号维护")
    assert store.resume_channel("weibo") and not store.resume_channel("weibo")
    assert store.pauses() == {}


def test_a_paused_channel_defers_its_tasks_without_spending_attempts(store: StatusStore, tmp_path: Path) -> None:
    calls: list[str] = []

    async def deliver(task: DeliveryTask, ctx: StageContext) -> list[object]:
        calls.append(task.delivery_id)
        return []

    now = [0.0]
    ctx = StageContext(settings=Settings(data_dir=tmp_path), store=store, adapters={},
                       pauses=PauseCache(monotonic=lambda: now[0]))
    stage = steering.pausable("weibo", deliver)  # type: ignore[arg-type]
    store.pause_channel("weibo", "值班员 (操作员)", "账号维护")
    first = asyncio.run(stage(task_for(1), ctx))
    later, note = first
    assert isinstance(later, DeliveryTask) and later.attempt == 6 and later.not_before is not None
    assert isinstance(note, StatusEvent) and note.status is S.paused and "值班员" in (note.detail or "")
    again = asyncio.run(stage(later, ctx))  # still paused: waits again, the status is not repeated
    assert len(again) == 1 and isinstance(again[0], DeliveryTask) and calls == []
    store.resume_channel("weibo")
    now[0] += PAUSE_READ_SECONDS  # the resume is seen within the bound
    assert asyncio.run(stage(again[0], ctx)) == [] and calls == [task_for(1).delivery_id]


def test_a_pause_holds_for_every_check_from_one_read_interval_after_it_is_committed(
        store: StatusStore, tmp_path: Path) -> None:
    """The stated bound (processors.pause_cache): the store is read at most once per PAUSE_READ_SECONDS, and a
    pause committed at T holds for every check starting after T + PAUSE_READ_SECONDS."""
    reads: list[float] = []
    now = [100.0]
    counting = PauseCache(monotonic=lambda: now[0])
    original = store.pauses

    def pauses() -> dict[str, object]:
        reads.append(now[0])
        return original()  # type: ignore[return-value]

    store.pauses = pauses  # type: ignore[method-assign]
    ctx = StageContext(settings=Settings(data_dir=tmp_path), store=store, adapters={}, pauses=counting)
    of = lambda: asyncio.run(steering.pause_of(ctx, "weibo"))  # noqa: E731
    assert of() is None and reads == [100.0]
    store.pause_channel("weibo", "值班员 (操作员)", "账号维护")  # committed at T = 100.0 (just after the read)
    now[0] += PAUSE_READ_SECONDS / 2
    assert of() is None and len(reads) == 1  # inside the bound: the answer read before the pause, no query
    now[0] = 100.0 + PAUSE_READ_SECONDS
    assert (pause := of()) is not None and pause.reason == "账号维护" and len(reads) == 2
    store.resume_channel("weibo")
    now[0] += PAUSE_READ_SECONDS * 0.99
    assert of() is not None and len(reads) == 2
    now[0] += PAUSE_READ_SECONDS * 0.01
    assert of() is None and len(reads) == 3


def test_outcomes_give_counts_success_rate_and_latency_and_replays_count_once(store: StatusStore) -> None:
    p, q = pub(1), pub(2)
    record(store, p)
    record(store, q)
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    at = lambda seconds: t0 + dt.timedelta(seconds=seconds)  # noqa: E731
    events = [
        ("e1", event(p, "portal", S.delivering).model_copy(update={"at": at(0)})),
        ("e2", event(p, "portal", S.delivered).model_copy(update={"at": at(2)})),
        ("e3", event(q, "portal", S.delivering).model_copy(update={"at": at(10)})),
        ("e4", event(q, "portal", S.retrying, detail="disk full").model_copy(update={"at": at(11)})),
        ("e5", event(q, "portal", S.delivered).model_copy(update={"at": at(14)})),
        ("e6", event(q, "weibo", S.failed, detail="rejected: token").model_copy(update={"at": at(15)})),
    ]
    for event_id, ev in events:
        store.apply_status(event_id, ev)
    store.apply_status("e5", events[4][1])  # replay
    figures = store.channel_figures(["portal", "weibo"])
    portal, weibo = figures["portal"], figures["weibo"]
    assert (portal.last_hour, portal.last_day, portal.success_rate) == (2, 2, 1.0)
    assert (portal.p50_ms, portal.p95_ms) == (2000, 4000)  # q waited from its queueing, through its retry
    assert portal.last_error is not None and portal.last_error[1] == "disk full"
    assert (weibo.last_day, weibo.success_rate, weibo.last_success) == (1, 0.0, None)
    assert store.outcome_totals() == {("portal", "delivered"): 2, ("portal", "retrying"): 1, ("weibo", "failed"): 1}
    buckets = store.latency_buckets([1000, 3000, 5000])
    assert buckets["portal"] == ([0, 1, 2], 2, 6000)


def test_actions_of_people_carry_their_actor_on_the_timeline(store: StatusStore) -> None:
    p = pub(1)
    record(store, p)
    store.apply_status("a1", event(p, "weibo", S.delivering).model_copy(update={"actor": "值班员 (操作员)"}))
    store.apply_status("a2", event(p, "weibo", S.delivered))
    assert [(e["status"], e["actor"]) for e in store.timeline_of(p.id)] == [
        ("delivering", "值班员 (操作员)"), ("delivered", None)]
