"""Message center and "policies for me" on both store backends: only this business's pushes, newest first, with
current validity; policies for it by the push's own targeting rules, in force and on the portal only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from producers.subscribe.views import BusinessViews
from schemas.delivery import DeliveryStatus
from schemas.subscriber import Subscriber
from tests.processors.test_status_store import event, pub, record
from tests.push_support import credit_code
from tests.store_backends import BACKENDS, backend_url


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StatusStore]:
    with backend_url(request.param, tmp_path) as url:
        s = StatusStore(url)
        yield s
        s.close()


def business(n: int, **changes: object) -> Subscriber:
    return Subscriber.model_validate({"credit_code": credit_code(n), "name": f"企业{n}", "region": "历下区",
                                      "industry": "C3911", "scale": "小型", "topics": ["人才"], **changes})


def on_portal(store: StatusStore, n: int, **fields: object) -> str:
    p = pub(n, **fields)
    record(store, p)
    store.apply_status(f"ev-{n}", event(p, "portal", DeliveryStatus.delivered, url=f"http://gov.test/portal/{n}.html"))
    return p.id


def test_the_message_center_shows_only_this_business_newest_first_with_current_validity_and_interpretation(store: StatusStore) -> None:
    subs = SubscriberStore(store.engine)
    first = on_portal(store, 1, title="第一条人才政策")
    second = on_portal(store, 2, title="第二条人才政策", validity="失效")
    theirs = on_portal(store, 3, title="只推给别家的政策")
    subs.record("d1", first, 1, credit_code(1), "delivered", channel="email")
    subs.record("d2", second, 1, credit_code(1), "sent", channel="sms")
    subs.record("d3", theirs, 1, credit_code(2), "delivered", channel="email")
    subs.record("d4", first, 1, credit_code(2), "failed", channel="email")
    on_portal(store, 4, title="第一条人才政策解读", kind="interpretation", related=[{"id": first, "relation": "interprets"}])
    mine = BusinessViews(store.engine).messages(business(1))
    assert [(m.title, m.channel_name, m.validity_text, m.url) for m in mine] == [
        ("第二条人才政策", "短信", "已失效", "http://gov.test/portal/2.html"),
        ("第一条人才政策", "邮件", "现行有效", "http://gov.test/portal/1.html")]
    assert [m.interpretations for m in mine] == [[], [("http://gov.test/portal/4.html", "第一条人才政策解读")]], \
        "each message links its policy's interpretation"
    assert BusinessViews(store.engine).messages(business(3)) == []


def test_policies_for_me_match_by_the_push_rules_and_only_in_force(store: StatusStore) -> None:
    targeted = {"regions": ["历下区"], "industries": ["C39"], "topics": ["人才"]}
    match = on_portal(store, 1, title="匹配的政策", targeting=targeted)
    on_portal(store, 2, title="别的区", targeting={**targeted, "regions": ["市中区"]})
    on_portal(store, 3, title="已失效的政策", targeting=targeted, validity="失效")
    on_portal(store, 4, title="没有定向的政策")
    record(store, pub(5, title="还没上门户的政策", targeting=targeted))
    on_portal(store, 6, title="点名的政策", targeting={"credit_codes": [credit_code(1)]})
    found = BusinessViews(store.engine).policies_for(business(1))
    assert sorted(p.title for p in found) == ["匹配的政策", "点名的政策"]
    reason = next(p.reason for p in found if p.id == match)
    assert reason.startswith("匹配原因：") and "计算机、通信和其他电子设备制造业" in reason and "关注人才" in reason
    assert [p.title for p in BusinessViews(store.engine).policies_for(business(2, industry="I6510"))] == []
