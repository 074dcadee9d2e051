"""The push bookkeeping on both store backends: campaign counters follow recipient states (batch and
single writes, replays never move a final state back), ledger batch merges keep facts written by others,
and campaign summaries projected out of order never overwrite a later one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from persistence.ledger import Ledger
from persistence.push_recipients import RecipientUpdate
from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from schemas.delivery import DeliveryStatus, StatusEvent
from tests.processors.test_status_store import pub as sample_pub
from tests.processors.test_status_store import record
from tests.store_backends import BACKENDS, backend_url


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_url(request.param, tmp_path) as found:
        yield found


def test_counters_follow_states_and_replays_never_move_a_final_state_back(url: str) -> None:
    subs = SubscriberStore(create_engine(url))
    subs.record_queued([(f"d{n}", f"code{n}") for n in range(5)], "p1", 1)
    subs.record_queued([(f"d{n}", f"code{n}") for n in range(5)], "p1", 1)  # the target stage replayed
    assert subs.summary("p1", 1) == {"matched": 5, "queued": 5, "deferred": 0, "sent": 0, "delivered": 0,
                                          "failed": 0, "skipped": 0, "unsubscribed": 0, "clicked": 0}
    subs.record_many([RecipientUpdate("d0", "p1", 1, "code0", "sent", "sms"),
                      RecipientUpdate("d1", "p1", 1, "code1", "delivered", "webhook", day="2026-11-27"),
                      RecipientUpdate("d2", "p1", 1, "code2", "deferred", detail="quiet hours"),
                      RecipientUpdate("d3", "p1", 1, "code3", "unsubscribed")])
    subs.record("d0", "p1", 1, "code0", "delivered", channel="sms", day="2026-11-27")
    subs.record("d1", "p1", 1, "code1", "queued")  # a replayed earlier state: ignored
    subs.click("p1", "sms")
    subs.click("p1", "email")
    subs.click("p1", "unsubscribe")  # one business unsubscribed through this campaign's message
    counts = subs.summary("p1", 1)
    assert {k: counts[k] for k in ("matched", "queued", "deferred", "sent", "delivered", "unsubscribed", "clicked")} == {
        "matched": 5, "queued": 1, "deferred": 1, "sent": 0, "delivered": 2, "unsubscribed": 2, "clicked": 2}
    assert subs.recipient_states(["d0", "d1", "d4"]) == {"d0": "delivered", "d1": "delivered", "d4": "queued"}
    assert subs.delivered_counts(["code0", "code1", "code2"], "2026-11-27") == {"code0": 1, "code1": 1}
    assert subs.summary("p1", 2)["matched"] == 0


def test_a_batch_of_alike_and_differing_updates_lands_row_by_row(url: str) -> None:
    """A dispatch batch writes many rows with the same new values (one statement for them) beside a few that differ,
    and a recipient updated twice in one batch keeps its last state."""
    subs = SubscriberStore(create_engine(url))
    subs.record_queued([(f"d{n}", f"code{n}") for n in range(2500)], "p1", 1)
    delivered = [RecipientUpdate(f"d{n}", "p1", 1, f"code{n}", "delivered", "webhook", "webhook 204", "2026-11-27")
                 for n in range(2400)]
    subs.record_many([*delivered,
                      RecipientUpdate("d2400", "p1", 1, "code2400", "deferred", detail="quiet hours"),
                      RecipientUpdate("d2401", "p1", 1, "code2401", "sent", "sms"),
                      RecipientUpdate("d2401", "p1", 1, "code2401", "delivered", "sms", "receipt", "2026-11-27")])
    counts = subs.summary("p1", 1)
    assert {k: counts[k] for k in ("matched", "queued", "deferred", "sent", "delivered")} == {
        "matched": 2500, "queued": 98, "deferred": 1, "sent": 0, "delivered": 2401}
    assert subs.recipient_states(["d0", "d1999", "d2399", "d2400", "d2401", "d2402"]) == {
        "d0": "delivered", "d1999": "delivered", "d2399": "delivered", "d2400": "deferred", "d2401": "delivered",
        "d2402": "queued"}
    assert subs.delivered_counts(["code0", "code2399", "code2401", "code2402"], "2026-11-27") == {
        "code0": 1, "code2399": 1, "code2401": 1}


def test_ledger_batch_merge_keeps_facts_written_meanwhile(url: str) -> None:
    ledger = Ledger(create_engine(url))
    ledger.put("push", "a", external_ref="sms:1", sms_attempt=1)
    ledger.put_many("push", {"a": ({"awaiting": "sms"}, None), "b": ({"failed": ["webhook"]}, "wechat_template:9")})
    assert ledger.get("push", "a") == {"sms_attempt": 1, "awaiting": "sms"}
    assert ledger.by_external_ref("push", "sms:1") == ("a", {"sms_attempt": 1, "awaiting": "sms"})
    assert ledger.get_many("push", ["a", "b", "c"]) == {"a": {"sms_attempt": 1, "awaiting": "sms"},
                                                        "b": {"failed": ["webhook"]}}
    assert ledger.by_external_ref("push", "wechat_template:9") is not None


def test_campaign_summaries_projected_out_of_order_keep_the_latest(url: str) -> None:
    store = StatusStore(url)
    pub = sample_pub(channels=("portal", "push"))
    record(store, pub)
    at = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)

    def summary(progress: int, detail: str, status: DeliveryStatus) -> StatusEvent:
        return StatusEvent(publication_id=pub.id, version=pub.version, channel="push", status=status, detail=detail,
                           at=at, progress=progress)

    store.apply_status("e1", summary(4, "matched 3, delivered 2", DeliveryStatus.delivering))
    store.apply_status("e2", summary(7, "matched 3, delivered 3", DeliveryStatus.delivered))
    store.apply_status("e3", summary(5, "matched 3, delivered 2 (late)", DeliveryStatus.delivering))
    push = store.deliveries_of(pub.id)["push"]
    assert push["status"] == "delivered" and push["detail"] == "matched 3, delivered 3"
    store.close()
