"""Stage functions in isolation: plain models in, plain models out."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
from pathlib import Path
from typing import ClassVar

import pytest

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.store import StatusStore
from processors.normalize import normalize
from processors.stages import RECORDED_STATUS, ChangeKind, DeadLetter, PublicationChange, StageContext, deliver, plan
from processors.topology import decode_change
from schemas import (
    Action,
    Delivered,
    DeliveryResult,
    DeliveryStatus,
    DeliveryTask,
    IndexNo,
    PublicationIn,
    Rejected,
    Retryable,
    StatusEvent,
    UnknownOutcome,
)
from schemas.events import CloudEvent, EventType, new_event
from settings import Settings

NOW = dt.datetime(2025, 3, 5, 2, 0, tzinfo=dt.UTC)


def publication(**changes: object):  # type: ignore[no-untyped-def]
    fields = PublicationIn.model_validate(sample_policy(**changes))
    return normalize(fields, publication_id="pub_test", version=1, department=DEMO_DEPARTMENT["publisher_code"],
                     index=IndexNo(code=DEMO_DEPARTMENT["publisher_code"], year=2025, sequence=1), submitted_at=NOW)


class ScriptedAdapter:
    """Test double of a channel: answers with the next scripted result and records every call."""

    channel: ClassVar[str] = "portal"

    def __init__(self, *results: DeliveryResult) -> None:
        self.results = list(results)
        self.calls: list[DeliveryTask] = []

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        self.calls.append(task)
        return self.results.pop(0)

    def close(self) -> None:
        pass


@pytest.fixture
def ctx(tmp_path: Path) -> StageContext:
    settings = Settings(data_dir=tmp_path, channels=["portal"], max_attempts=3, retry_base_seconds=5)
    return StageContext(settings=settings, store=StatusStore(f"sqlite:///{tmp_path}/s.db"), adapters={}, clock=lambda: NOW)


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_plan_makes_one_task_per_channel_with_stable_ids(ctx: StageContext) -> None:
    change = PublicationChange(kind=ChangeKind.submitted, publication=publication())
    first, again = run(plan(change, ctx)), run(plan(change, ctx))
    tasks = [m for m in first if isinstance(m, DeliveryTask)]
    assert [(t.channel, t.action) for t in tasks] == [("portal", Action.publish)]
    assert [t.delivery_id for t in tasks] == [t.delivery_id for t in again if isinstance(t, DeliveryTask)]


def test_plan_holds_future_publications_until_released(ctx: StageContext) -> None:
    later = publication(publish_at=(NOW + dt.timedelta(hours=2)).isoformat())
    held = run(plan(PublicationChange(kind=ChangeKind.submitted, publication=later), ctx))
    assert [type(m) for m in held] == [StatusEvent] and held[0].status is DeliveryStatus.scheduled
    released = run(plan(PublicationChange(kind=ChangeKind.released, publication=later), ctx))
    assert any(isinstance(m, DeliveryTask) for m in released)


def test_plan_adds_nothing_to_a_scheduled_submission_whose_status_was_recorded_with_it(ctx: StageContext) -> None:
    later = publication(publish_at=(NOW + dt.timedelta(hours=2)).isoformat())
    recorded = PublicationChange(kind=ChangeKind.submitted, publication=later, recorded="scheduled")
    assert run(plan(recorded, ctx)) == []  # the submit API committed `scheduled` and its timeline entry
    # only a submission's own record counts: any other change of a future publication still says so itself
    for kind in (ChangeKind.revised, ChangeKind.approved):
        [status] = run(plan(PublicationChange(kind=kind, publication=later, recorded="scheduled"), ctx))
        assert isinstance(status, StatusEvent) and status.status is DeliveryStatus.scheduled
    # due by the time it is planned: published as before, whatever the submission recorded
    due = publication(publish_at=(NOW - dt.timedelta(minutes=1)).isoformat())
    planned = run(plan(PublicationChange(kind=ChangeKind.submitted, publication=due, recorded="scheduled"), ctx))
    assert any(isinstance(m, DeliveryTask) for m in planned)


def test_decode_change_reads_the_recorded_status_extension() -> None:
    pub = publication()
    plain = new_event(EventType.submitted, "/test", pub.id, pub)
    marked = new_event(EventType.submitted, "/test", pub.id, pub, **{RECORDED_STATUS: "scheduled"})
    assert decode_change(CloudEvent.from_json(plain.to_json())).recorded is None
    again = CloudEvent.from_json(marked.to_json())
    assert json.loads(marked.to_json())[RECORDED_STATUS] == "scheduled"
    assert decode_change(again).recorded == "scheduled" and decode_change(again).publication.id == pub.id


def test_plan_retracts_on_every_channel(ctx: StageContext) -> None:
    pub = publication().model_copy(update={"retracted": True, "retract_reason": "内容有误"})
    tasks = [m for m in run(plan(PublicationChange(kind=ChangeKind.retracted, publication=pub), ctx))
             if isinstance(m, DeliveryTask)]
    assert [t.action for t in tasks] == [Action.retract]


def task() -> DeliveryTask:
    return DeliveryTask(delivery_id="dlv_1", channel="portal", action=Action.publish, publication=publication())


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (Delivered(url="http://x/portal/a.html"), DeliveryStatus.delivered),
        (Rejected(reason="bad", code="47001"), DeliveryStatus.failed),
        (Retryable(reason="busy", retry_after=1), DeliveryStatus.retrying),
        (UnknownOutcome(reason="timeout"), DeliveryStatus.retrying),
    ],
)
def test_deliver_maps_typed_results_to_status(ctx: StageContext, result: DeliveryResult, expected: DeliveryStatus) -> None:
    ctx.adapters["portal"] = ScriptedAdapter(result)  # type: ignore[assignment]
    out = run(deliver(task(), ctx))
    statuses = [m for m in out if isinstance(m, StatusEvent)]
    assert [s.status for s in statuses] == [expected]
    retries = [m for m in out if isinstance(m, DeliveryTask)]
    if expected is DeliveryStatus.retrying:
        assert retries[0].attempt == 2 and retries[0].not_before and retries[0].not_before >= NOW + dt.timedelta(seconds=5)
    else:
        assert retries == []


def test_retry_ladder_grows_then_dead_letters(ctx: StageContext) -> None:
    ctx.adapters["portal"] = ScriptedAdapter(*[Retryable(reason="down", retry_after=0)] * 3)  # type: ignore[assignment]
    current, delays = task(), []
    for _ in range(2):
        out = run(deliver(current, ctx))
        current = next(m for m in out if isinstance(m, DeliveryTask))
        assert current.not_before is not None
        delays.append((current.not_before - NOW).total_seconds())
    assert delays == [5.0, 10.0]
    final = run(deliver(current, ctx))
    assert any(isinstance(m, DeadLetter) for m in final)
    assert [m.status for m in final if isinstance(m, StatusEvent)] == [DeliveryStatus.dead]


@pytest.mark.parametrize(("error", "attempt_after"), [
    (ValueError("adapter bug"), 2),  # counts as an attempt (the ladder ends in a dead letter)
    (OSError(errno.ENOSPC, "No space left on device"), 1),  # an outage of our own disk: waited out, not counted
])
def test_adapter_exception_is_retried_not_lost(ctx: StageContext, error: Exception, attempt_after: int) -> None:
    class Broken(ScriptedAdapter):
        def deliver(self, task: DeliveryTask) -> DeliveryResult:
            raise error

    ctx.adapters["portal"] = Broken()  # type: ignore[assignment]
    out = run(deliver(task(), ctx))
    assert [m.attempt for m in out if isinstance(m, DeliveryTask)] == [attempt_after]


def test_an_outage_never_dead_letters_however_long_it_lasts(ctx: StageContext) -> None:
    full = Retryable(reason="portal files not writable: ENOSPC", retry_after=15, outage=True)
    ctx.adapters["portal"] = ScriptedAdapter(*[full] * (ctx.settings.max_attempts * 3))  # type: ignore[assignment]
    current = task()
    for _ in range(ctx.settings.max_attempts * 3):
        out = run(deliver(current, ctx))
        assert not any(isinstance(m, DeadLetter) for m in out)
        assert [m.status for m in out if isinstance(m, StatusEvent)] == [DeliveryStatus.retrying]
        current = next(m for m in out if isinstance(m, DeliveryTask))
        assert current.attempt == 1 and current.not_before == NOW + dt.timedelta(seconds=15)


def test_plan_holds_sensitive_content_until_an_operator_approves(ctx: StageContext) -> None:
    leaky = publication(body="<p>联系人：张三，手机13812345678。</p>")
    held = run(plan(PublicationChange(kind=ChangeKind.submitted, publication=leaky), ctx))
    assert [type(m) for m in held] == [StatusEvent]
    assert held[0].status is DeliveryStatus.held and "138****5678" in (held[0].detail or "")
    assert "13812345678" not in (held[0].detail or "")
    approved = run(plan(PublicationChange(kind=ChangeKind.approved, publication=leaky), ctx))
    assert any(isinstance(m, DeliveryTask) for m in approved)


def test_pending_results_are_checked_again_without_counting_as_failures(ctx: StageContext) -> None:
    from schemas import Pending

    ctx.adapters["portal"] = ScriptedAdapter(Pending(reason="publish job 42 running", check_after=3))  # type: ignore[assignment]
    out = run(deliver(task(), ctx))
    later = next(m for m in out if isinstance(m, DeliveryTask))
    assert later.attempt == 1 and later.checks == 1 and later.not_before == NOW + dt.timedelta(seconds=3)
    assert [m.status for m in out if isinstance(m, StatusEvent)] == [DeliveryStatus.delivering]
