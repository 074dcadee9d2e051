"""Console access: nothing without a session, sessions done right (cookie flags, idle timeout, logout),
CSRF on every form, departments confined to their own items and kept from operator actions."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from govcast.samples import DEMO_DEPARTMENT, OTHER_DEPARTMENT, sample_policy
from persistence.store import StatusStore
from persistence.tables import console_sessions
from producers.api import create_app
from producers.auth import new_token
from producers.console.web import COOKIE
from settings import Settings

DEPT = DEMO_DEPARTMENT["publisher_code"]
BUSINESS_CODE = "91370100MA3C8W1A0N"

GET_ROUTES = ["/console/", "/console/publications", "/console/publications/pub_x", "/console/channels",
              "/console/deadletters", "/console/events", "/console/actions/retry?pub=pub_x&channel=weibo",
              "/console/actions/pause?channel=weibo", "/console/actions/retract?pub=pub_x", "/console/tokens",
              "/console/tokens/prn_x/revoke", "/console/subscribers", "/console/subscribers/91370100MA3C8W1A0N",
              "/console/subscribers/91370100MA3C8W1A0N/pause"]
ACTIONS = ("retry", "requeue", "requeue-channel", "retract", "approve", "reject", "pause", "resume")
POST_ROUTES = ["/console/logout", "/console/tokens", "/console/tokens/prn_x/revoke",
               "/console/subscribers/91370100MA3C8W1A0N/pause", "/console/subscribers/91370100MA3C8W1A0N/resume",
               *(f"/console/actions/{a}" for a in ACTIONS)]
OPERATOR_ONLY = ["/console/channels", "/console/deadletters", "/console/actions/retry?pub={pub}&channel=weibo",
                 "/console/actions/approve?pub={pub}", "/console/actions/pause?channel=weibo",
                 "/console/actions/requeue-channel?channel=weibo", "/console/tokens", "/console/subscribers"]


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(client: TestClient, token: str) -> TestClient:
    form = client.get("/console/login")
    answer = client.post("/console/login", data={"token": token, "csrf": csrf_in(form.text)}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def publish(client: TestClient, token: str, code: str = DEPT, **fields: Any) -> str:
    response = client.post("/v1/publications", json=sample_policy(publisher_code=code, channels=["portal", "weibo"],
                                                                   **fields),
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@pytest.fixture
def app(settings: Settings, store: StatusStore, bus: Any) -> Any:
    return create_app(settings.model_copy(update={"channels": ["portal", "weibo"]}), store, bus)


@pytest.fixture
def tokens(store: StatusStore) -> dict[str, str]:
    return {"operator": new_token(store, "operator", "值班员张敏"),
            "dept": new_token(store, "department", DEMO_DEPARTMENT["name"], DEPT),
            "other": new_token(store, "department", OTHER_DEPARTMENT["name"], OTHER_DEPARTMENT["publisher_code"]),
            "business": new_token(store, "business", "泉城供水", BUSINESS_CODE)}


@pytest.mark.parametrize("path", GET_ROUTES)
def test_every_page_without_a_session_goes_to_the_login(app: Any, path: str) -> None:
    with TestClient(app) as client:
        answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/login?next=")


@pytest.mark.parametrize("path", POST_ROUTES)
def test_every_action_without_a_session_is_refused(app: Any, path: str, store: StatusStore) -> None:
    with TestClient(app) as client:
        answer = client.post(path, data={"csrf": "x", "channel": "weibo", "reason": "r"}, follow_redirects=False)
    assert answer.status_code == 403 and "请重新登录" in answer.text
    assert store.pauses() == {}


def test_login_starts_a_server_side_session_with_strict_cookie_flags(app: Any, tokens: dict[str, str]) -> None:
    with TestClient(app) as client:
        form = client.get("/console/login")
        answer = client.post("/console/login", data={"token": tokens["operator"], "csrf": csrf_in(form.text)},
                             follow_redirects=False)
        cookie = answer.headers["set-cookie"]
        assert answer.status_code == 303 and answer.headers["location"] == "/console/"
        assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Path=/console" in cookie and "Secure" not in cookie  # plain http here
        assert tokens["operator"] not in cookie  # the cookie names a session, not the token
        home = client.get("/console/")
        assert home.status_code == 200 and "值班员张敏" in home.text and "检查预警" in home.text
    with TestClient(app, base_url="https://testserver") as secure:
        form = secure.get("/console/login")
        answer = secure.post("/console/login", data={"token": tokens["operator"], "csrf": csrf_in(form.text)},
                             follow_redirects=False)
        assert "Secure" in answer.headers["set-cookie"]


@pytest.mark.parametrize(("who", "status", "words"), [("business", 403, "不能登录"), ("nonsense", 401, "令牌无效")])
def test_business_and_unknown_tokens_open_nothing(app: Any, tokens: dict[str, str], who: str, status: int,
                                                  words: str) -> None:
    with TestClient(app) as client:
        form = client.get("/console/login")
        answer = client.post("/console/login", data={"token": tokens.get(who, "gct_nonsense"), "csrf": csrf_in(form.text)},
                             follow_redirects=False)
        assert answer.status_code == status and words in answer.text
        assert f"{COOKIE}=" not in answer.headers.get("set-cookie", "")
        assert client.get("/console/", follow_redirects=False).status_code == 303


def test_a_login_without_the_forms_csrf_token_is_refused(app: Any, tokens: dict[str, str]) -> None:
    with TestClient(app) as client:
        client.get("/console/login")
        answer = client.post("/console/login", data={"token": tokens["operator"], "csrf": "forged"}, follow_redirects=False)
        assert answer.status_code == 403 and f"{COOKIE}=" not in answer.headers.get("set-cookie", "")


def test_a_forged_csrf_token_changes_nothing(app: Any, tokens: dict[str, str], store: StatusStore) -> None:
    with login(TestClient(app), tokens["operator"]) as client:
        answer = client.post("/console/actions/pause", data={"csrf": "forged", "channel": "weibo", "reason": "试试"})
        assert answer.status_code == 403 and "CSRF" in answer.text
        assert store.pauses() == {}
        assert client.post("/console/logout", data={"csrf": "forged"}).status_code == 403
        assert client.get("/console/").status_code == 200  # still logged in
        page = client.get("/console/actions/pause?channel=weibo")
        done = client.post("/console/actions/pause", data={"csrf": csrf_in(page.text), "channel": "weibo",
                                                           "reason": "账号维护"}, follow_redirects=False)
        assert done.status_code == 303 and store.pauses()["weibo"].paused_by == "值班员张敏 (操作员)"
        assert "微博 已暂停" in client.get("/console/publications").text  # visible everywhere


def test_logout_ends_the_session_and_the_old_cookie_opens_nothing(app: Any, tokens: dict[str, str]) -> None:
    with login(TestClient(app), tokens["operator"]) as client:
        cookie = client.cookies.get(COOKIE)
        home = client.get("/console/")
        out = client.post("/console/logout", data={"csrf": csrf_in(home.text)}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"].startswith("/console/login")
    with TestClient(app, cookies={COOKIE: str(cookie)}) as replay:
        assert replay.get("/console/", follow_redirects=False).status_code == 303


def test_an_idle_session_ends(app: Any, tokens: dict[str, str], store: StatusStore, settings: Settings) -> None:
    with login(TestClient(app), tokens["operator"]) as client:
        assert client.get("/console/").status_code == 200
        idle = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=settings.console_idle_minutes + 1)
        with store.transaction() as conn:
            conn.execute(update(console_sessions).values(last_seen=idle))
        assert client.get("/console/", follow_redirects=False).status_code == 303


def test_a_department_sees_only_its_own_items_and_no_operator_action(app: Any, tokens: dict[str, str]) -> None:
    with TestClient(app) as api:
        mine = publish(api, tokens["dept"], title="关于本部门事项的通知")
        theirs = publish(api, tokens["other"], code=OTHER_DEPARTMENT["publisher_code"], title="关于其他部门事项的通知")
    with login(TestClient(app), tokens["dept"]) as client:
        listing = client.get("/console/publications").text
        assert "关于本部门事项的通知" in listing and "关于其他部门事项的通知" not in listing
        # Asking for the other department's code in the filter changes nothing.
        assert "关于其他部门事项的通知" not in client.get(
            f"/console/publications?department={OTHER_DEPARTMENT['publisher_code']}").text
        assert client.get(f"/console/publications/{mine}").status_code == 200
        assert client.get(f"/console/publications/{theirs}").status_code == 404
        assert client.get(f"/console/actions/retract?pub={theirs}").status_code == 404
        for path in OPERATOR_ONLY:
            assert client.get(path.format(pub=mine)).status_code == 403, path
        home = client.get("/console/").text
        assert "死信" not in home and "/console/channels" not in home
        csrf = csrf_in(home)
        for action in ("retry", "approve", "pause", "requeue-channel"):
            answer = client.post(f"/console/actions/{action}", data={"csrf": csrf, "pub": mine, "channel": "weibo"})
            assert answer.status_code == 403, action
        refused = client.post("/console/actions/retract", data={"csrf": csrf, "pub": theirs, "reason": "试图撤回"})
        assert refused.status_code == 404
        done = client.post("/console/actions/retract", data={"csrf": csrf, "pub": mine, "reason": "内容有误"},
                           follow_redirects=False)
        assert done.status_code == 303
        detail = client.get(f"/console/publications/{mine}").text
        assert "内容有误" in detail and f"{DEMO_DEPARTMENT['name']} (部门)" in detail


EXPIRES = dt.date.today() + dt.timedelta(days=365)


def test_operators_issue_a_token_once_and_revoking_it_ends_its_sessions(app: Any, tokens: dict[str, str],
                                                                         store: StatusStore) -> None:
    with login(TestClient(app), tokens["operator"]) as client:
        page = client.get("/console/tokens")
        assert DEMO_DEPARTMENT["name"] in page.text and DEPT in page.text  # departments and their codes
        forged = client.post("/console/tokens", data={"csrf": "forged", "kind": "operator", "name": "夜班"})
        assert forged.status_code == 403
        created = client.post("/console/tokens", data={"csrf": csrf_in(page.text), "kind": "department",
                                                       "name": "市教育局", "publisher_code": OTHER_DEPARTMENT["publisher_code"],
                                                       "expires": EXPIRES.isoformat()})
        assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
        secret = re.search(r'id="new-token">(gct_[^<]+)<', created.text)
        assert secret is not None
        assert secret.group(1) not in client.get("/console/tokens").text  # shown once, never again
        [record] = [r for r in store.list_tokens() if r.name == "市教育局"]
        assert record.expires_at is not None and record.expires_at.date() == EXPIRES  # the end of that day, Beijing time

        with login(TestClient(app), secret.group(1)) as education:
            assert education.get("/console/publications").status_code == 200
            confirm = client.get(f"/console/tokens/{record.id}/revoke")
            assert "市教育局" in confirm.text
            done = client.post(f"/console/tokens/{record.id}/revoke", data={"csrf": csrf_in(confirm.text)},
                               follow_redirects=False)
            assert done.status_code == 303
            assert education.get("/console/publications", follow_redirects=False).status_code == 303
        assert "已吊销" in client.get("/console/tokens").text
