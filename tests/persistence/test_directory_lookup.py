"""Operators' look-ups in the push directory on both backends: find by name (LIKE wildcards taken literally, a contact
is not a name) or credit-code prefix; recent pushes of one business; pause and resume on the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from persistence import audit
from persistence.audit import Actor
from persistence.directory_lookup import find_subscribers, recent_pushes
from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from schemas.subscriber import SubscriberIn
from tests.push_support import credit_code
from tests.store_backends import BACKENDS, backend_url

OPERATOR = Actor(id="prn_operator", name="值班员张敏", kind="operator")


@pytest.fixture(params=BACKENDS)
def directory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SubscriberStore]:
    with backend_url(request.param, tmp_path) as url:
        store = StatusStore(url)
        subs = SubscriberStore(store.engine)
        subs.upsert_many([
            SubscriberIn(credit_code=credit_code(1), name="泉城精密制造有限公司", mobile="13812345678",
                         email="zhang@quancheng.example.com", channels=["sms"]),  # type: ignore[list-item]
            SubscriberIn(credit_code=credit_code(2), name="100%_趵突泉文旅", email="li@baotu.example.com",
                         channels=["email"]),  # type: ignore[list-item]
            *(SubscriberIn(credit_code=credit_code(n), name=f"济南测试企业{n:03d}有限公司") for n in range(10, 70))])
        yield subs
        store.engine.dispose()


def names(found: list[SubscriberIn]) -> list[str]:
    return [s.name for s in found]


def test_find_by_name_or_code_prefix(directory: SubscriberStore) -> None:
    engine = directory.engine
    assert names(find_subscribers(engine, "精密").items) == ["泉城精密制造有限公司"]
    assert names(find_subscribers(engine, "%_").items) == ["100%_趵突泉文旅"], "LIKE wildcards are plain characters"
    assert names(find_subscribers(engine, credit_code(2).lower()).items) == ["100%_趵突泉文旅"]
    assert find_subscribers(engine, "quancheng").items == [], "a contact is not a name"
    page = find_subscribers(engine, "有限公司", limit=50)
    assert len(page.items) == 50 and page.more
    rest = find_subscribers(engine, "济南测试企业06", limit=50)
    assert len(rest.items) == 10 and not rest.more


def test_recent_pushes_are_one_businesss_newest_first_with_titles_where_known(directory: SubscriberStore) -> None:
    directory.record("d1", "pub_a", 1, credit_code(1), "sent", channel="sms")
    directory.record("d2", "pub_b", 2, credit_code(1), "failed", channel="sms", detail="blocked")
    directory.record("d3", "pub_a", 1, credit_code(2), "delivered", channel="email")
    directory.record("d1", "pub_a", 1, credit_code(1), "delivered", channel="sms")  # the receipt came: newest now
    pushes = recent_pushes(directory.engine, credit_code(1))
    assert [(p.publication_id, p.version, p.status, p.title) for p in pushes] == [
        ("pub_a", 1, "delivered", ""), ("pub_b", 2, "failed", "")]


def test_pause_and_resume_are_audited_once_each(directory: SubscriberStore) -> None:
    code = credit_code(1)
    assert directory.set_paused(code, True, OPERATOR, "企业来电") is not None
    directory.set_paused(code, True, OPERATOR, "再点一次")  # already paused: nothing changes, nothing recorded
    sub = directory.get(code)
    assert sub is not None and sub.paused and sub.reachable_channels() == []
    directory.set_paused(code, False, OPERATOR)
    trail = audit.entries(directory.engine, audit.AuditFilter(target=code, limit=10))
    assert [(e["action"], e["detail"]) for e in trail] == [
        ("subscriber.resume", {"paused": {"from": True, "to": False}}),
        ("subscriber.pause", {"paused": {"from": False, "to": True}, "reason": "企业来电"})]
    assert directory.set_paused(credit_code(3), True, OPERATOR) is None  # no such business
