"""Console 订阅企业: an operator finds a business by name or credit code, sees its channels with contacts masked, its
state and its recent pushes, and pauses or resumes it (confirmed, CSRF-checked, audited, in the business's history)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.selfservice import SelfService
from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from producers.api import create_app
from producers.auth import new_token
from schemas.subscriber import SubscriberIn
from settings import Settings
from tests.producers.test_console_access import csrf_in, login
from tests.push_support import credit_code

PAUSE_REASON = "企业来电：搬迁期间暂停接收"


@pytest.fixture
def app(settings: Settings, store: StatusStore, bus: Any) -> Any:
    return create_app(settings.model_copy(update={"channels": ["portal", "push"]}), store, bus)


@pytest.fixture
def directory(store: StatusStore) -> SubscriberStore:
    subs = SubscriberStore(store.engine)
    subs.upsert(SubscriberIn(credit_code=credit_code(1), name="泉城精密制造有限公司", region="历下区", mobile="13812345678",
                             email="zhang@quancheng.example.com", channels=["sms", "email"]))  # type: ignore[list-item]
    subs.upsert(SubscriberIn(credit_code=credit_code(2), name="趵突泉文旅发展有限公司", email="li@baotu.example.com",
                             channels=["email"]))  # type: ignore[list-item]
    return subs


@pytest.fixture
def tokens(store: StatusStore) -> dict[str, str]:
    return {"operator": new_token(store, "operator", "值班员张敏"),
            "dept": new_token(store, "department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])}


def test_an_operator_finds_a_business_by_name_or_code_with_contacts_masked(app: Any, tokens: dict[str, str],
                                                                           directory: SubscriberStore) -> None:
    with login(TestClient(app), tokens["operator"]) as client:
        everyone = client.get("/console/subscribers").text
        assert "泉城精密制造有限公司" in everyone and "趵突泉文旅发展有限公司" in everyone and "共 2 家企业" in everyone
        by_name = client.get("/console/subscribers", params={"q": "精密制造"}).text
        assert "泉城精密制造有限公司" in by_name and "趵突泉文旅发展有限公司" not in by_name
        by_code = client.get("/console/subscribers", params={"q": credit_code(2).lower()}).text
        assert "趵突泉文旅发展有限公司" in by_code and "泉城精密制造有限公司" not in by_code
        by_email = client.get("/console/subscribers", params={"q": "quancheng"}).text  # a contact is not a name
        assert "泉城精密制造有限公司" not in by_email and "没有名称含「quancheng」" in by_email
        page = client.get(f"/console/subscribers/{credit_code(1)}").text
        assert "138****5678" in page and "z***@quancheng.example.com" in page
        for text in (everyone, by_name, page):
            assert "13812345678" not in text and "zhang@" not in text
        assert "推送中" in page and "操作员录入" in page
        assert client.get(f"/console/subscribers/{credit_code(3)}").status_code == 404


def test_the_page_lists_recent_pushes_from_the_ledger(app: Any, tokens: dict[str, str], directory: SubscriberStore) -> None:
    with TestClient(app) as api:
        published = api.post("/v1/publications", headers={"Authorization": f"Bearer {tokens['dept']}"},
                             json=sample_policy(title="关于支持专精特新企业发展的若干措施", channels=["portal"]))
        assert published.status_code == 202, published.text
    pub_id = published.json()["id"]
    directory.record("d1", pub_id, 1, credit_code(1), "delivered", channel="sms", detail="SMS receipt DELIVERED (1 segment(s))")
    directory.record("d2", "pub_gone", 1, credit_code(1), "failed", channel="email",
                     detail="550 <zhang@quancheng.example.com>: mailbox unavailable")
    directory.record("d3", pub_id, 1, credit_code(2), "delivered", channel="email")
    with login(TestClient(app), tokens["operator"]) as client:
        page = client.get(f"/console/subscribers/{credit_code(1)}").text
    assert f'href="/console/publications/{pub_id}">关于支持专精特新企业发展的若干措施</a>' in page
    assert "已送达" in page and "SMS receipt DELIVERED" in page
    assert "pub_gone" in page and "失败" in page and "550 &lt;z***@quancheng.example.com&gt;" in page
    assert "zhang@" not in page, "a platform's error text is masked too"
    assert page.count("<tr>") == 1 + 4 + 1 + 2  # head rows and 4 channels, then this business's 2 pushes only


def test_an_operator_pauses_and_resumes_a_business(app: Any, tokens: dict[str, str], directory: SubscriberStore,
                                                   store: StatusStore) -> None:
    code = credit_code(1)
    with login(TestClient(app), tokens["operator"]) as client:
        confirm = client.get(f"/console/subscribers/{code}/pause")
        assert confirm.status_code == 200 and "暂停原因" in confirm.text
        forged = client.post(f"/console/subscribers/{code}/pause", data={"csrf": "forged", "reason": PAUSE_REASON})
        assert forged.status_code == 403 and directory.get(code).paused is False  # type: ignore[union-attr]
        no_reason = client.post(f"/console/subscribers/{code}/pause", data={"csrf": csrf_in(confirm.text), "reason": " "})
        assert no_reason.status_code in (400, 422) and directory.get(code).paused is False  # type: ignore[union-attr]
        done = client.post(f"/console/subscribers/{code}/pause", data={"csrf": csrf_in(confirm.text), "reason": PAUSE_REASON})
        assert done.status_code == 200 and "已暂停对这家企业的全部推送" in done.text and "恢复推送…" in done.text
        sub = directory.get(code)
        assert sub is not None and sub.paused and sub.reachable_channels() == []
        trail = client.get("/v1/audit", params={"target": code},
                           headers={"Authorization": f"Bearer {tokens['operator']}"}).json()["items"]
        assert trail[0]["action"] == "subscriber.pause" and trail[0]["actor"]["name"] == "值班员张敏"
        assert trail[0]["detail"] == {"paused": {"from": False, "to": True}, "reason": PAUSE_REASON}
        resume = client.get(f"/console/subscribers/{code}/resume")
        again = client.post(f"/console/subscribers/{code}/resume", data={"csrf": csrf_in(resume.text)})
        assert "已恢复对这家企业的推送" in again.text and "推送中" in again.text
    assert directory.get(code).paused is False  # type: ignore[union-attr]
    history = [(actor, change) for _, actor, change in SelfService(directory).history(code)]
    assert history == [("管理员", "恢复推送"), ("管理员", "暂停全部推送")]  # what the business reads under 变更记录


def test_departments_have_no_subscriber_page(app: Any, tokens: dict[str, str], directory: SubscriberStore) -> None:
    with login(TestClient(app), tokens["dept"]) as client:
        home = client.get("/console/")
        assert "/console/subscribers" not in home.text
        for path in ("/console/subscribers", f"/console/subscribers/{credit_code(1)}",
                     f"/console/subscribers/{credit_code(1)}/pause"):
            assert client.get(path).status_code == 403, path
        refused = client.post(f"/console/subscribers/{credit_code(1)}/pause",
                              data={"csrf": csrf_in(home.text), "reason": "试试"})
        assert refused.status_code == 403 and directory.get(credit_code(1)).paused is False  # type: ignore[union-attr]


def test_a_pause_whose_history_line_fails_leaves_neither(app: Any, tokens: dict[str, str], directory: SubscriberStore,
                                                         store: StatusStore) -> None:
    """The pause and the line in the business's 变更记录 are one transaction: when the second write fails (here
    the database refuses it), the business is not paused, and nothing is on the audit trail or in its history."""
    code = credit_code(1)

    def refuse_history(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PUSH_SUBSCRIBER_HISTORY"):
            raise OSError("disk I/O error (injected)")

    event.listen(store.engine, "before_cursor_execute", refuse_history)
    try:
        with login(TestClient(app, raise_server_exceptions=False), tokens["operator"]) as client:
            confirm = client.get(f"/console/subscribers/{code}/pause")
            failed = client.post(f"/console/subscribers/{code}/pause",
                                 data={"csrf": csrf_in(confirm.text), "reason": PAUSE_REASON})
    finally:
        event.remove(store.engine, "before_cursor_execute", refuse_history)
    assert failed.status_code == 500
    assert directory.get(code).paused is False  # type: ignore[union-attr]
    assert SelfService(directory).history(code) == []
    with login(TestClient(app), tokens["operator"]) as client:
        trail = client.get("/v1/audit", params={"target": code},
                           headers={"Authorization": f"Bearer {tokens['operator']}"}).json()["items"]
    assert [e for e in trail if e["action"] == "subscriber.pause"] == []
