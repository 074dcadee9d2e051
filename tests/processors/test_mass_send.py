"""The day's WeChat mass send is built by one worker at a time (persistence/mass_send.py), on both store backends,
and a copy gathered for it waits for the send time as `scheduled` (processors/stages.outcome)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.ledger import Ledger
from persistence.mass_send import claim_batch, gathered
from persistence.store import StatusStore
from processors.normalize import normalize
from processors.stages import StageContext, outcome
from schemas import DeliveryStatus, DeliveryTask, IndexNo, Pending, PublicationIn, StatusEvent
from schemas.delivery import Action, delivery_id
from settings import Settings

CODE = DEMO_DEPARTMENT["publisher_code"]


def test_of_workers_claiming_the_days_message_at_once_one_builds_it(store: StatusStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(lambda n: claim_batch(store.engine, "wechat", "mass:2026-12-03", f"dlv_{n}", 1000.0, 120.0),
                            range(12)))
    assert won.count(True) == 1
    holder = f"dlv_{won.index(True)}"
    assert claim_batch(store.engine, "wechat", "mass:2026-12-03", holder, 1010.0, 120.0)  # its own claim again
    assert not claim_batch(store.engine, "wechat", "mass:2026-12-03", "dlv_late", 1100.0, 120.0)
    assert claim_batch(store.engine, "wechat", "mass:2026-12-03", "dlv_late", 1200.0, 120.0)  # the holder died: taken over


def test_the_days_copies_come_in_the_order_they_were_gathered(store: StatusStore) -> None:
    ledger = Ledger(store.engine)
    for name, at, ns in (("dlv_b", 5.0, 2), ("dlv_a", 5.0, 3), ("dlv_c", 1.0, 9)):
        ledger.put("wechat", name, external_ref="mass:2026-12-03", gathered_at=at, gathered_ns=ns)
    ledger.put("wechat", "dlv_other_day", external_ref="mass:2026-12-04", gathered_at=0.0, gathered_ns=0)
    assert [d for d, _ in gathered(store.engine, "wechat", "mass:2026-12-03")] == ["dlv_c", "dlv_b", "dlv_a"]


def test_a_copy_gathered_for_the_send_time_waits_for_it_in_one_go_as_scheduled(tmp_path: Path, store: StatusStore) -> None:
    morning = dt.datetime(2025, 3, 5, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    ctx = StageContext(settings=Settings(data_dir=tmp_path), store=store, adapters={}, clock=lambda: morning)
    pub = normalize(PublicationIn.model_validate(sample_policy()), publication_id="pub_mass", version=1,
                    department=CODE, index=IndexNo(code=CODE, year=2025, sequence=1), submitted_at=morning)
    task = DeliveryTask(delivery_id=delivery_id(pub.id, 1, "wechat", Action.publish), channel="wechat",
                        action=Action.publish, publication=pub)
    waiting = Pending(reason="gathered for the mass send of 2025-03-05 18:00", check_after=8 * 3600 + 1, scheduled=True)
    later, note = outcome(task, waiting, ctx)
    assert isinstance(later, DeliveryTask) and later.attempt == 1  # no attempt spent
    assert later.not_before == morning + dt.timedelta(hours=8, seconds=1)  # not cut to the hourly retry cap
    assert isinstance(note, StatusEvent) and note.status is DeliveryStatus.scheduled
    assert note.detail == "gathered for the mass send of 2025-03-05 18:00"
