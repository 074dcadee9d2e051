"""Token lifecycle over the API: operators create, list and revoke; revoked or expired tokens get 401 at once."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from fastapi.testclient import TestClient

from govcast.samples import DEMO_DEPARTMENT, OTHER_DEPARTMENT, sample_policy
from persistence.store import Principal, StatusStore
from producers.api import create_app
from producers.auth import hash_token, new_token, parse_expiry

DEPT_CODE = DEMO_DEPARTMENT["publisher_code"]
BUSINESS_CODE = "91370100MA3C0000X8"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_operator_creates_a_token_that_works_and_is_listed_without_its_secret(client, operator):
    made = client.post("/v1/tokens", headers=operator,
                       json={"kind": "department", "name": "市数据局", "publisher_code": OTHER_DEPARTMENT["publisher_code"]})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["token"].startswith("gct_") and body["state"] == "active" and body["expires_at"] is None
    assert made.headers["cache-control"] == "no-store"
    listed = client.get("/v1/tokens", headers=operator)
    assert listed.status_code == 200
    assert body["id"] in [t["id"] for t in listed.json()["items"]]
    assert body["token"] not in listed.text and hash_token(body["token"]) not in listed.text
    mine = client.get("/v1/publications", headers=_bearer(body["token"]))
    assert mine.status_code == 200


def test_a_revoked_token_is_refused_on_the_next_request_on_every_node(client, operator, dept, settings, store, bus, tmp_path):
    second_store = StatusStore(store.url)  # another API process sharing the database
    try:
        with TestClient(create_app(settings, second_store, bus)) as node_b:
            assert node_b.get("/v1/publications", headers=dept).status_code == 200
            token_id = next(t["id"] for t in client.get("/v1/tokens", headers=operator).json()["items"]
                            if t["kind"] == "department")
            assert client.delete(f"/v1/tokens/{token_id}", headers=operator).status_code == 204
            refused = node_b.get("/v1/publications", headers=dept)
            assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
            assert client.post("/v1/publications", headers=dept, json=sample_policy()).status_code == 401
            states = {t["id"]: t["state"] for t in client.get("/v1/tokens", headers=operator).json()["items"]}
            assert states[token_id] == "revoked"
    finally:
        second_store.close()


def test_a_token_revoked_on_one_node_submits_nothing_more_on_another_that_cached_it(client, operator, dept, settings,
                                                                                   store, bus):
    second_store = StatusStore(store.url)  # another API process sharing the database
    try:
        with TestClient(create_app(settings, second_store, bus)) as node_b:
            first = node_b.post("/v1/publications", headers=dept, json=sample_policy(title="吊销前提交的通知"))
            assert first.status_code == 202, first.text  # node B now has the token's principal cached
            token_id = next(t["id"] for t in client.get("/v1/tokens", headers=operator).json()["items"]
                            if t["kind"] == "department")
            assert client.delete(f"/v1/tokens/{token_id}", headers=operator).status_code == 204
            refused = node_b.post("/v1/publications", headers=dept, json=sample_policy(title="吊销后提交的通知"))
            assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
            titles = [p["title"] for p in client.get("/v1/publications", headers=operator).json()["items"]]
            assert titles == ["吊销前提交的通知"]  # the refused submission kept nothing
            assert node_b.post("/v1/publications", headers=dept, json=sample_policy()).status_code == 401
    finally:
        second_store.close()


def test_a_token_revoked_on_another_node_is_refused_before_its_body_is_judged(client, operator, dept, settings, store,
                                                                             bus):
    """A node that cached a token checks it live in the submission's transaction; a body that fails the server's
    checks (an unknown 组配分类) from a token revoked meanwhile is refused for its token (401), not judged (422)."""
    second_store = StatusStore(store.url)
    try:
        with TestClient(create_app(settings, second_store, bus)) as node_b:
            assert node_b.post("/v1/publications", headers=dept, json=sample_policy()).status_code == 202  # cached
            token_id = next(t["id"] for t in client.get("/v1/tokens", headers=operator).json()["items"]
                            if t["kind"] == "department")
            assert client.delete(f"/v1/tokens/{token_id}", headers=operator).status_code == 204
            unknown_category = {**sample_policy(title="吊销后提交的坏通知"), "category": "没有这个分类"}
            refused = node_b.post("/v1/publications", headers=dept, json=unknown_category)
            assert refused.status_code == 401, refused.text
    finally:
        second_store.close()


def test_an_expired_token_gets_401(client, operator):
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)  # time to create and use it on a loaded CI machine
    made = client.post("/v1/tokens", headers=operator, json={"kind": "operator", "name": "临时值班员",
                                                             "expires_at": expires.isoformat()}).json()
    assert client.get("/v1/tokens", headers=_bearer(made["token"])).status_code == 200
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    assert client.get("/v1/tokens", headers=_bearer(made["token"])).status_code == 401
    states = {t["id"]: t["state"] for t in client.get("/v1/tokens", headers=operator).json()["items"]}
    assert states[made["id"]] == "expired"


def test_only_operators_manage_tokens(client, dept, store, problem):
    business = _bearer(new_token(store, "business", "某某公司", BUSINESS_CODE))
    for headers in (dept, business):
        problem(client.get("/v1/tokens", headers=headers), 403)
        problem(client.post("/v1/tokens", headers=headers, json={"kind": "operator", "name": "我自己"}), 403)
        problem(client.delete("/v1/tokens/prn_x", headers=headers), 403)
    problem(client.get("/v1/tokens"), 401)


def test_revoking_an_unknown_token_is_404(client, operator, problem):
    problem(client.delete("/v1/tokens/prn_unknown", headers=operator), 404)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "operator", "name": "x", "publisher_code": DEPT_CODE}, "body.publisher_code"),
        ({"kind": "department", "name": "x"}, "body.publisher_code"),
        ({"kind": "business", "name": "x", "publisher_code": "91370100MA3C0000X9"}, "body.publisher_code"),
        ({"kind": "business", "name": "x", "publisher_code": DEPT_CODE}, "body.publisher_code"),  # a department's code
        ({"kind": "operator", "name": "x", "expires_at": "2020-01-01T00:00:00+08:00"}, "body.expires_at"),
        ({"kind": "operator", "name": "x", "expires_at": "2030-01-01T00:00:00"}, "body.expires_at"),
        ({"kind": "admin", "name": "x"}, "body.kind"),
    ],
)
def test_nonsense_token_requests_are_refused(client, operator, dept, payload, field, problem):
    problem(client.post("/v1/tokens", headers=operator, json=payload), 422, field)


def test_a_business_token_with_a_departments_code_reads_nothing_of_that_department(client, dept, store, problem):
    """Defect 5: token kinds are not interchangeable, even for a record made before create refused the combination."""
    accepted = client.post("/v1/publications", headers=dept, json=sample_policy(publish_at="2099-01-01T09:00:00+08:00"))
    assert accepted.status_code == 202, accepted.text
    legacy = Principal("prn_legacy_biz", "business", "冒名公司", DEPT_CODE)
    store.add_token(legacy, hash_token("gct_legacy-business"))
    business = _bearer("gct_legacy-business")
    problem(client.get(f"/v1/publications/{accepted.json()['id']}", headers=business), 404)
    problem(client.get("/v1/publications", headers=business), 403)
    problem(client.post(f"/v1/publications/{accepted.json()['id']}/retract", headers=business, json={"reason": "冒名撤回"}), 403)
    problem(client.put(f"/v1/publications/{accepted.json()['id']}", headers=business, json=sample_policy()), 403)


def test_a_department_token_cannot_take_a_businesss_code(store):
    new_token(store, "business", "某某公司", BUSINESS_CODE)
    with pytest.raises(ValueError, match="business token"):
        new_token(store, "department", "假部门", BUSINESS_CODE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", dt.datetime(2026, 7, 30, 1, 0, tzinfo=dt.UTC)),
        ("12h", dt.datetime(2026, 5, 1, 13, 0, tzinfo=dt.UTC)),
        ("30m", dt.datetime(2026, 5, 1, 1, 30, tzinfo=dt.UTC)),
        ("2026-05-31", dt.datetime(2026, 5, 31, 16, 0, tzinfo=dt.UTC)),  # through that Beijing day
        ("2026-06-01T08:00:00", dt.datetime(2026, 6, 1, 0, 0, tzinfo=dt.UTC)),  # Beijing time without a zone
    ],
)
def test_expiry_forms(text, expected):
    assert parse_expiry(text, dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)) == expected


@pytest.mark.parametrize("text", ["yesterday", "0m", "2020-01-01", "9999d", "1w", "9999-12-31"])
def test_bad_expiries(text):
    with pytest.raises(ValueError):
        parse_expiry(text, dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC))
