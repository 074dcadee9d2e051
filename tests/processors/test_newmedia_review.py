"""Issue 14's new-media review rule in the plan stage, and the send window and daily cap of the paced channels
(on each store backend: the cap's slots are claimed under the backend's lock)."""

from __future__ import annotations

import asyncio
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.projection import overall_status
from persistence.reviews import claim_review
from persistence.send_slots import claim_send_slot, slots_used
from persistence.store import StatusStore
from processors.normalize import normalize
from processors.pacing import gate, paced
from processors.stages import ChangeKind, DeadLetter, PublicationChange, StageContext, outcome, plan
from schemas import DeliveryStatus, DeliveryTask, IndexNo, PublicationIn, StatusEvent
from schemas.delivery import Action, Delivered, Rejected, Retryable, UnknownOutcome, delivery_id
from settings import Settings

CODE = DEMO_DEPARTMENT["publisher_code"]
CST = dt.timezone(dt.timedelta(hours=8))
MORNING = dt.datetime(2025, 3, 5, 10, 0, tzinfo=CST)


def publication(pub_id: str = "pub_review", *, retracted: bool = False):  # type: ignore[no-untyped-def]
    fields = PublicationIn.model_validate(sample_policy())
    pub = normalize(fields, publication_id=pub_id, version=1, department=CODE,
                    index=IndexNo(code=CODE, year=2025, sequence=1), submitted_at=MORNING)
    return pub.model_copy(update={"retracted": retracted})


def context(tmp_path: Path, store: StatusStore, rule: list[str], now: dt.datetime = MORNING, **more: object) -> StageContext:
    settings = Settings(data_dir=tmp_path, channels=["portal", "wechat", "weibo"], newmedia_review=rule, **more)
    return StageContext(settings=settings, store=store, adapters={}, clock=lambda: now)


def planned(ctx: StageContext, pub=None) -> tuple[set[str], dict[str, DeliveryStatus]]:  # type: ignore[no-untyped-def]
    out = asyncio.run(plan(PublicationChange(kind=ChangeKind.submitted, publication=pub or publication()), ctx))
    queued = {m.channel for m in out if isinstance(m, DeliveryTask)}
    waiting = {m.channel: m.status for m in out if isinstance(m, StatusEvent) and m.status is DeliveryStatus.awaiting_review}
    return queued, waiting  # type: ignore[return-value]


def test_the_rule_keeps_named_new_media_copies_waiting_and_queues_the_rest(tmp_path: Path, store: StatusStore) -> None:
    assert planned(context(tmp_path, store, [])) == ({"portal", "wechat", "weibo"}, {})
    assert planned(context(tmp_path, store, ["wechat"])) == ({"portal", "weibo"}, {"wechat": DeliveryStatus.awaiting_review})
    # Per department: this department's Weibo copy waits, another department's rule changes nothing for it.
    assert planned(context(tmp_path, store, [f"weibo:{CODE}", "wechat:11370100MB2857733X"])) == (
        {"portal", "wechat"}, {"weibo": DeliveryStatus.awaiting_review})
    # A retraction never waits for an editor.
    assert planned(context(tmp_path, store, ["wechat", "weibo"]), publication(retracted=True)) == (
        {"portal", "wechat", "weibo"}, {})


def test_a_revision_of_a_copy_posted_already_does_not_wait_again(tmp_path: Path, store: StatusStore) -> None:
    ctx = context(tmp_path, store, ["wechat", "weibo"])
    first = publication()
    with store.transaction() as conn:
        store.upsert_publication(conn, first, "pending", ["portal", "wechat", "weibo"])
    store.apply_status("posted", StatusEvent(publication_id=first.id, version=1, channel="wechat",
                                             status=DeliveryStatus.delivered, at=MORNING))
    store.apply_status("rejected", StatusEvent(publication_id=first.id, version=1, channel="weibo",
                                               status=DeliveryStatus.rejected, at=MORNING))
    revision = first.model_copy(update={"version": 2})
    # WeChat answers "already posted" for the revision; the rejected Weibo copy comes back to the editor.
    assert planned(ctx, revision) == ({"portal", "wechat"}, {"weibo": DeliveryStatus.awaiting_review})


def test_a_rule_naming_no_new_media_channel_or_a_bad_code_is_refused(tmp_path: Path) -> None:
    for rule in ("portal", "wechat:nonsense", "sms"):
        with pytest.raises(ValidationError, match="GOVCAST_NEWMEDIA_REVIEW"):
            Settings(data_dir=tmp_path, newmedia_review=rule)
    with pytest.raises(ValidationError, match="GOVCAST_NEWMEDIA_SEND_WINDOW"):
        Settings(data_dir=tmp_path, newmedia_send_window="21:00-08:00")


def test_a_mass_send_time_outside_the_send_window_of_a_paced_wechat_is_refused(tmp_path: Path) -> None:
    def settings(at: str, rule: str = "wechat", mass_send: bool = True) -> Settings:
        return Settings(data_dir=tmp_path, channels=["portal", "wechat"], newmedia_review=rule,
                        newmedia_send_window="08:00-21:00",
                        channel_env={"wechat": {"mass_send": mass_send, "mass_send_time": at}})

    for at, rule in (("22:00", "wechat"), ("21:00", "wechat"), ("07:59", "wechat"), ("23:30", f"wechat:{CODE}")):
        with pytest.raises(ValidationError) as refused:
            settings(at, rule)
        assert "GOVCAST_WECHAT_MASS_SEND_TIME" in str(refused.value) and "GOVCAST_NEWMEDIA_SEND_WINDOW" in str(refused.value)
    from adapters.wechat.config import WechatSettings

    for accepted in (settings("08:00"), settings("20:59"),  # within the window
                     settings("22:00", rule="weibo"),  # the window does not pace WeChat: any time goes
                     settings("22:00", mass_send=False)):  # no mass send: its time is unused
        assert accepted.channel_settings(WechatSettings).mass_send_time in ("08:00", "20:59", "22:00")


def task(pub_id: str, channel: str = "wechat", action: Action = Action.publish) -> DeliveryTask:
    pub = publication(pub_id)
    return DeliveryTask(delivery_id=delivery_id(pub.id, 1, channel, action), channel=channel, action=action,
                        publication=pub)


def test_outside_the_send_window_a_copy_waits_for_the_morning_without_spending_an_attempt(
        tmp_path: Path, store: StatusStore) -> None:
    night = dt.datetime(2025, 3, 5, 22, 30, tzinfo=CST)
    ctx = context(tmp_path, store, ["wechat"], now=night)
    later, note = asyncio.run(gate(task("pub_a"), ctx)) or []
    assert isinstance(later, DeliveryTask) and later.attempt == 1
    assert later.not_before == dt.datetime(2025, 3, 6, 8, 0, tzinfo=CST)
    assert isinstance(note, StatusEvent) and note.status is DeliveryStatus.scheduled
    assert "2025-03-06 08:00" in (note.detail or "")
    # Withdrawing a copy is never held back.
    assert asyncio.run(gate(task("pub_a", action=Action.retract), ctx)) is None
    early = context(tmp_path, store, ["wechat"], now=dt.datetime(2025, 3, 6, 7, 59, tzinfo=CST))
    [again, _] = asyncio.run(gate(task("pub_a"), early)) or []
    assert isinstance(again, DeliveryTask) and again.not_before == dt.datetime(2025, 3, 6, 8, 0, tzinfo=CST)


def test_beyond_the_daily_cap_a_copy_waits_for_the_next_days_window(tmp_path: Path, store: StatusStore) -> None:
    ctx = context(tmp_path, store, ["wechat"], newmedia_daily_cap={"wechat": 2})
    assert asyncio.run(gate(task("pub_1"), ctx)) is None
    assert asyncio.run(gate(task("pub_2"), ctx)) is None
    later, note = asyncio.run(gate(task("pub_3"), ctx)) or []
    assert isinstance(later, DeliveryTask) and later.not_before == dt.datetime(2025, 3, 6, 8, 0, tzinfo=CST)
    assert isinstance(note, StatusEvent) and "daily cap" in (note.detail or "")
    assert asyncio.run(gate(task("pub_2"), ctx)) is None  # a copy keeps its slot: its retry is not a new post
    assert asyncio.run(gate(task("pub_3", channel="weibo"), ctx)) is None  # another account, its own cap
    tomorrow = context(tmp_path, store, ["wechat"], now=MORNING + dt.timedelta(days=1), newmedia_daily_cap={"wechat": 2})
    assert asyncio.run(gate(task("pub_3"), tomorrow)) is None


def test_a_copy_that_fails_for_good_unposted_gives_its_days_slot_back(tmp_path: Path, store: StatusStore) -> None:
    """Cap 2: a refused copy and one whose attempts all failed free their slots for the day's next copies; a copy
    whose outcome stayed unknown keeps its slot (it may have been posted)."""
    ctx = context(tmp_path, store, ["wechat"], newmedia_daily_cap={"wechat": 2}, max_attempts=2)
    results = {"pub_refused": Rejected(reason="content not allowed"), "pub_flaky": Retryable(reason="HTTP 503"),
               "pub_unknown": UnknownOutcome(reason="timed out after sending"), "pub_ok": Delivered(detail="posted")}

    async def platform(task: DeliveryTask, ctx: StageContext) -> list[Any]:
        return outcome(task, results[task.publication.id], ctx)

    deliver = paced(platform)
    day = MORNING.date()
    [failed] = asyncio.run(deliver(task("pub_refused"), ctx))
    assert isinstance(failed, StatusEvent) and failed.status is DeliveryStatus.failed
    assert slots_used(store.engine, "wechat", day) == 0  # refused: nothing was posted, the slot is free again
    retry, _ = asyncio.run(deliver(task("pub_flaky"), ctx))
    assert isinstance(retry, DeliveryTask) and slots_used(store.engine, "wechat", day) == 1  # still trying: held
    dead, _ = asyncio.run(deliver(retry, ctx))
    assert isinstance(dead, DeadLetter) and slots_used(store.engine, "wechat", day) == 0
    retry, _ = asyncio.run(deliver(task("pub_unknown"), ctx))
    dead, _ = asyncio.run(deliver(retry, ctx))
    assert isinstance(dead, DeadLetter) and slots_used(store.engine, "wechat", day) == 1  # maybe posted: kept
    [posted] = asyncio.run(deliver(task("pub_ok"), ctx))
    assert posted.status is DeliveryStatus.delivered  # type: ignore[attr-defined]
    assert slots_used(store.engine, "wechat", day) == 2  # the day's cap counts the two that may be on the account
    waiting, _ = asyncio.run(deliver(task("pub_next"), ctx))
    assert isinstance(waiting, DeliveryTask) and waiting.not_before == dt.datetime(2025, 3, 6, 8, 0, tzinfo=CST)


def test_a_publication_waiting_only_for_an_editor_says_so() -> None:
    assert overall_status(["delivered", "awaiting_review"], retracted=False) == "awaiting_review"
    assert overall_status(["delivering", "awaiting_review"], retracted=False) == "delivering"
    assert overall_status(["delivered", "rejected"], retracted=False) == "partially_delivered"


def test_workers_claiming_at_once_never_post_more_than_the_cap(store: StatusStore) -> None:
    day = MORNING.date()
    with ThreadPoolExecutor(max_workers=8) as pool:
        claimed = list(pool.map(lambda n: claim_send_slot(store.engine, "weibo", day, f"dlv_{n}", 3), range(16)))
    assert claimed.count(True) == 3 and slots_used(store.engine, "weibo", day) == 3


def test_of_editors_deciding_at_once_exactly_one_wins(store: StatusStore) -> None:
    pub = publication("pub_decide")
    with store.transaction() as conn:
        store.upsert_publication(conn, pub, "pending", ["portal", "wechat"])
    store.apply_status("wait", StatusEvent(publication_id=pub.id, version=1, channel="wechat",
                                           status=DeliveryStatus.awaiting_review, at=MORNING))

    def decide(status: str) -> bool:
        with store.transaction() as conn:
            return claim_review(conn, pub.id, "wechat", 1, status, f"{status} by an editor", MORNING)

    with ThreadPoolExecutor(max_workers=6) as pool:
        won = list(pool.map(decide, ["delivering", "rejected"] * 3))
    assert won.count(True) == 1
    assert store.deliveries_of(pub.id)["wechat"]["status"] == ("delivering", "rejected")[won.index(True) % 2]
    with store.transaction() as conn:  # an older version's decision finds nothing to decide
        assert not claim_review(conn, pub.id, "wechat", 0, "delivering", "late", MORNING)
