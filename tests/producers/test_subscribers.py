"""Subscriber API (operators; a business manages only its own record), one-click unsubscribe, CSV import."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.push.unsubscribe import make_token
from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from producers.auth import new_token
from settings import Settings
from tests.conftest import cli
from tests.producers.conftest import CHANNELS
from tests.push_support import SECRET, business, credit_code, write_csv


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Policy push offered (without it a business token may not sign up: test_subscribe_unoffered.py)."""
    return Settings(data_dir=tmp_path, channels=[*CHANNELS, "push"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def body(n: int) -> dict[str, object]:
    return {"credit_code": credit_code(n), "name": f"企业{n}", "region": "历下区", "industry": "C3911",
            "scale": "小型", "qualifications": ["专精特新中小企业"], "email": f"b{n}@example.test",
            "webhook_url": "https://hooks.example.test/x", "webhook_secret": SECRET, "channels": ["webhook", "email"]}


def test_operator_and_business_access(client: TestClient, store: StatusStore) -> None:
    oper = bearer(new_token(store, "operator", "值班员"))
    mine = bearer(new_token(store, "business", "企业1", credit_code(1)))
    created = client.post("/v1/subscribers", json=body(1), headers=oper)
    assert created.status_code == 201, created.text
    assert created.json()["webhook_secret"] == "whsec_…" and created.json()["consent_at"]
    assert client.post("/v1/subscribers", json=body(1), headers=oper).status_code == 200
    assert client.get(f"/v1/subscribers/{credit_code(1)}", headers=mine).json()["name"] == "企业1"
    changed = client.put(f"/v1/subscribers/{credit_code(1)}", headers=mine,
                         json={k: v for k, v in body(1).items() if k != "credit_code"} | {"name": "新名称"})
    assert changed.status_code == 200 and changed.json()["name"] == "新名称"
    assert client.post("/v1/subscribers", json=body(2), headers=mine).status_code == 403
    assert client.get(f"/v1/subscribers/{credit_code(2)}", headers=mine).status_code == 403
    assert client.get("/v1/subscribers", headers=mine).status_code == 403
    assert client.get("/v1/subscribers", headers=oper).json()["total"] == 1
    bad = client.post("/v1/subscribers", json=body(3) | {"credit_code": credit_code(3)[:-1] + "Y"}, headers=oper)
    assert bad.status_code in (400, 422) and "GB 32100" in bad.text
    dept = bearer(new_token(store, "department", "部门", "11370100004188591X"))
    assert client.post("/v1/subscribers", json=body(4), headers=dept).status_code == 403
    assert client.delete(f"/v1/subscribers/{credit_code(1)}", headers=mine).status_code == 204


def test_one_click_unsubscribe(client: TestClient, store: StatusStore) -> None:
    oper = bearer(new_token(store, "operator", "值班员"))
    client.post("/v1/subscribers", json=body(7), headers=oper)
    subs = SubscriberStore(store.engine)
    token = make_token(subs.secret("unsubscribe"), credit_code(7), "email")
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "<form method=\"post\">" in page.text
    assert subs.get(credit_code(7)).unsubscribed == []  # type: ignore[union-attr]  # a GET changes nothing
    done = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert done.status_code == 200
    assert subs.get(credit_code(7)).unsubscribed == ["email"]  # type: ignore[union-attr]
    forged = make_token("guess", credit_code(7), "all")
    assert client.post(f"/u/{forged}").status_code == 404


def test_csv_import_reports_bad_rows_and_keeps_good_ones(tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = [business(n, rng) for n in range(1, 501)]
    rows[9]["credit_code"] = rows[9]["credit_code"][:-1] + ("1" if rows[9]["credit_code"][-1] != "1" else "2")
    rows[19]["channels"] = "fax"
    path = write_csv(tmp_path / "subs.csv", rows, extra_lines=[",".join([credit_code(1), "重复", *[""] * 13])])
    data = tmp_path / "data"
    done = cli("subscribers", "import", str(path), "--data-dir", str(data))
    assert done.returncode == 1, done.stderr
    assert "line 11: credit_code" in done.stderr and "GB 32100" in done.stderr
    assert "line 21: channels" in done.stderr
    assert "line 502: credit_code" in done.stderr and "already given on line 2" in done.stderr
    assert "500/500 rows" in done.stderr or "501/501 rows" in done.stderr
    assert "imported 498 subscribers, rejected 3 rows" in done.stderr
    store = StatusStore(f"sqlite:///{data / 'status.db'}")
    total, first = SubscriberStore(store.engine).list(1, 0)
    assert total == 498
    assert first[0].origin == "imported" and first[0].public()["verification"] == "imported", "not self-verified"


SSRF_URLS = ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8000/sandbox/_clock", "http://[::1]/x",
             "http://2130706433/x", "https://user:pw@hooks.example.test/x", "http://localhost/x", "http://10.0.0.8/x"]


def test_webhook_urls_into_the_citys_network_are_refused_when_saved(client: TestClient, store: StatusStore,
                                                                    settings) -> None:
    """Defect 7 (SSRF): loopback, link-local, private, numeric forms and credentials are 422 naming the field."""
    oper = bearer(new_token(store, "operator", "值班员"))
    mine = bearer(new_token(store, "business", "企业21", credit_code(21)))
    for n, url in enumerate(SSRF_URLS, start=30):
        refused = client.post("/v1/subscribers", json=body(n) | {"webhook_url": url}, headers=oper)
        assert refused.status_code == 422, (url, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["body.webhook_url"]
    changed = client.put(f"/v1/subscribers/{credit_code(21)}", headers=mine,
                         json={k: v for k, v in body(21).items() if k != "credit_code"} | {"webhook_url": SSRF_URLS[0]})
    assert changed.status_code == 422
    assert SubscriberStore(store.engine).list(1, 0)[0] == 0  # nothing was kept
    settings.webhook_allowed_networks = ["10.0.0.0/24"]  # an on-premises receiver, allowed by the operator
    assert client.post("/v1/subscribers", json=body(40) | {"webhook_url": "http://10.0.0.8/x"}, headers=oper).status_code == 201
    assert client.post("/v1/subscribers", json=body(41) | {"webhook_url": "http://10.0.1.8/x"}, headers=oper).status_code == 422


def test_csv_import_refuses_inward_webhook_urls(tmp_path: Path) -> None:
    rng = random.Random(5)
    rows = [business(n, rng) | {"webhook_url": "https://hooks.example.test/x", "webhook_secret": SECRET} for n in range(1, 5)]
    rows[1]["webhook_url"] = "http://169.254.169.254/latest/"
    rows[2]["webhook_url"] = "http://0x7f.1/hook"
    data = tmp_path / "data"
    done = cli("subscribers", "import", str(write_csv(tmp_path / "subs.csv", rows)), "--data-dir", str(data))
    assert done.returncode == 1, done.stderr
    assert "line 3: webhook_url" in done.stderr and "link-local" in done.stderr
    assert "line 4: webhook_url" in done.stderr and "numeric form" in done.stderr
    assert "imported 2 subscribers, rejected 2 rows" in done.stderr


def contacts(n: int) -> dict[str, object]:
    return body(n) | {"mobile": "13812345678", "email": f"zhang{n}@example.com", "wechat_openid": "oAbCdEfGhIjKlMnOpQrStUvWxYz",
                      "webhook_url": "https://hooks.example.test/receive/k3y-in-the-path", "channels": ["sms", "email"]}


CLEAR = ("13812345678", "zhang", "oAbCdEfGhIjKlMnOpQrStUvWxYz", "k3y-in-the-path")


def test_contacts_are_masked_in_every_answer(client: TestClient, store: StatusStore) -> None:
    """Listing, reading, creating and replacing show 138****5678 and z***@example.com, never a contact in clear."""
    oper = bearer(new_token(store, "operator", "值班员"))
    mine = bearer(new_token(store, "business", "企业51", credit_code(51)))
    answers = [client.post("/v1/subscribers", json=contacts(51), headers=oper),
               client.put(f"/v1/subscribers/{credit_code(51)}", headers=mine,
                          json={k: v for k, v in contacts(51).items() if k != "credit_code"}),
               client.get(f"/v1/subscribers/{credit_code(51)}", headers=oper),
               client.get(f"/v1/subscribers/{credit_code(51)}", headers=mine)]
    listed = client.get("/v1/subscribers", headers=oper)
    for answer in [*answers, listed]:
        assert answer.status_code in (200, 201), answer.text
        assert not any(clear in answer.text for clear in CLEAR), answer.text
    one = listed.json()["items"][0]
    assert (one["mobile"], one["email"], one["wechat_openid"], one["webhook_url"]) == (
        "138****5678", "z***@example.com", "oAbC…xYz", "https://hooks.example.test/…")
    assert one["name"] == "企业51" and one["channels"] == ["sms", "email"] and one["webhook_secret"] == "whsec_…"
    assert answers[2].json() == one


def test_an_operator_reveals_one_records_contacts_and_the_trail_says_so(client: TestClient, store: StatusStore) -> None:
    oper_token = new_token(store, "operator", "值班员王")
    oper = bearer(oper_token)
    client.post("/v1/subscribers", json=contacts(52), headers=oper)
    shown = client.get(f"/v1/subscribers/{credit_code(52)}?reveal=contacts", headers=oper)
    assert shown.status_code == 200
    assert (shown.json()["mobile"], shown.json()["email"]) == ("13812345678", "zhang52@example.com")
    assert shown.json()["webhook_url"] == "https://hooks.example.test/receive/k3y-in-the-path"
    assert shown.json()["webhook_secret"] == "whsec_…", "the secret is never shown, revealed or not"
    trail = client.get("/v1/audit", headers=oper, params={"action": "subscriber.reveal"}).json()["items"]
    assert len(trail) == 1
    assert trail[0]["target"] == credit_code(52) and trail[0]["actor"]["name"] == "值班员王" and trail[0]["at"]
    assert trail[0]["detail"] == {"fields": ["mobile", "email", "webhook_url", "wechat_openid"]}
    one = client.get(f"/v1/subscribers/{credit_code(52)}?reveal=mobile", headers=oper).json()  # only what is needed
    assert (one["mobile"], one["email"], one["wechat_openid"]) == ("13812345678", "z***@example.com", "oAbC…xYz")
    latest = client.get("/v1/audit", headers=oper, params={"action": "subscriber.reveal"}).json()["items"]
    assert len(latest) == 2 and latest[0]["detail"] == {"fields": ["mobile"]}
    # reading masked records nothing; the list never reveals; nor does an unknown reveal value
    client.get(f"/v1/subscribers/{credit_code(52)}", headers=oper)
    refused = client.get("/v1/subscribers?reveal=contacts", headers=oper)
    assert refused.status_code in (400, 422) and "single-record" in refused.text and "13812345678" not in refused.text
    assert client.get(f"/v1/subscribers/{credit_code(52)}?reveal=all", headers=oper).status_code == 422
    assert len(client.get("/v1/audit", headers=oper, params={"action": "subscriber.reveal"}).json()["items"]) == 2
    # the business itself may read its own contacts in clear: on the trail too, under its own name
    mine = bearer(new_token(store, "business", "企业52", credit_code(52)))
    own = client.get(f"/v1/subscribers/{credit_code(52)}?reveal=contacts", headers=mine)
    assert own.status_code == 200 and own.json()["mobile"] == "13812345678"
    newest = client.get("/v1/audit", headers=oper, params={"action": "subscriber.reveal"}).json()["items"][0]
    assert (newest["actor"]["kind"], newest["actor"]["name"]) == ("business", "企业52")


def test_departments_are_refused_reading_or_revealing_subscribers(client: TestClient, store: StatusStore) -> None:
    oper = bearer(new_token(store, "operator", "值班员"))
    dept = bearer(new_token(store, "department", "部门", "11370100004188591X"))
    other = bearer(new_token(store, "business", "企业54", credit_code(54)))
    client.post("/v1/subscribers", json=contacts(53), headers=oper)
    for headers in (dept, other):
        for url in (f"/v1/subscribers/{credit_code(53)}?reveal=contacts", f"/v1/subscribers/{credit_code(53)}",
                    "/v1/subscribers"):
            refused = client.get(url, headers=headers)
            assert refused.status_code == 403 and "13812345678" not in refused.text, url
    assert client.get("/v1/audit", headers=oper, params={"action": "subscriber.reveal"}).json()["items"] == []


def test_the_audit_trail_keeps_contact_changes_masked(client: TestClient, store: StatusStore) -> None:
    """The trail is append-only and outlives a deleted record: a changed mobile is there as a change, masked."""
    oper = bearer(new_token(store, "operator", "值班员"))
    client.post("/v1/subscribers", json=contacts(55), headers=oper)
    client.post("/v1/subscribers", json=contacts(55) | {"mobile": "13899995678"}, headers=oper)  # same mask, new number
    trail = client.get("/v1/audit", headers=oper, params={"target": credit_code(55)}).json()["items"]
    assert [e["action"] for e in trail] == ["subscriber.replace", "subscriber.create"]
    assert trail[0]["detail"] == {"mobile": {"from": "138****5678", "to": "138****5678"}}
    assert not any(clear in str(trail) for clear in (*CLEAR, "13899995678"))
