"""Where policy push is not a configured channel, the subscription center says so plainly on every page and
refuses a posted sign-up (nothing is stored, nothing is sent), and a business token cannot create or change its
record through the API (a clear 409 problem); reading, deleting and one-click unsubscribing keep working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from persistence.store import StatusStore
from persistence.subscribers import SubscriberStore
from processors.embedded.log import SqliteLog
from producers.api import create_app
from producers.auth import new_token
from settings import Settings
from tests.push_support import credit_code

SIGNUP = {"credit_code": credit_code(1), "name": "济南测试企业1有限公司", "region": "历下区",
          "industry": "C39 计算机、通信和其他电子设备制造业", "scale": "小型", "topics": ["人才"], "channels": ["email"],
          "email": "owner1@example.test", "consent": "yes"}


@pytest.fixture
def app_store(tmp_path: Path) -> Iterator[tuple[TestClient, StatusStore]]:
    settings = Settings(data_dir=tmp_path, channels=["portal", "wechat"], public_url="http://gov.test")
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    with TestClient(create_app(settings, store, SqliteLog(settings.log_path))) as client:
        yield client, store
    store.close()


@pytest.mark.parametrize("path", ["/subscribe", "/subscribe/manage", "/subscribe/privacy", "/subscribe/verify/abc",
                                  "/subscribe/confirm/abc.def", "/subscribe/m/some-old-manage-link"])
def test_every_page_says_push_is_not_offered(app_store: tuple[TestClient, StatusStore], path: str) -> None:
    client, _ = app_store
    answer = client.get(path)
    assert answer.status_code == 404
    assert "本网站目前未开通惠企政策推送" in answer.text
    assert 'name="credit_code"' not in answer.text  # no form
    assert "/subscribe/manage" not in answer.text and "/subscribe/privacy" not in answer.text  # no links to this page again
    assert client.get("/subscribe/assets/site.css").status_code == 200  # the page keeps the site's look


def test_a_posted_signup_is_refused_and_nothing_is_stored(app_store: tuple[TestClient, StatusStore]) -> None:
    client, store = app_store
    answer = client.post("/subscribe", data=SIGNUP)  # from a tab opened before push was switched off
    assert answer.status_code == 404 and "不接受订阅申请" in answer.text
    assert SubscriberStore(store.engine).list(10, 0)[0] == 0
    assert client.post("/subscribe/manage", data={"credit_code": credit_code(1)}).status_code == 404


def test_a_business_token_gets_a_clear_api_error(app_store: tuple[TestClient, StatusStore]) -> None:
    client, store = app_store
    mine = {"Authorization": f"Bearer {new_token(store, 'business', '企业1', credit_code(1))}"}
    record = {"credit_code": credit_code(1), "name": "企业1", "region": "历下区", "industry": "C3911", "scale": "小型",
              "email": "b1@example.test", "channels": ["email"]}
    for answer in (client.post("/v1/subscribers", json=record, headers=mine),
                   client.put(f"/v1/subscribers/{credit_code(1)}", json={k: v for k, v in record.items() if k != "credit_code"},
                              headers=mine)):
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "policy push is not offered" in answer.json()["detail"]
    assert SubscriberStore(store.engine).list(10, 0)[0] == 0
    operator = {"Authorization": f"Bearer {new_token(store, 'operator', '值班员')}"}
    assert client.post("/v1/subscribers", json=record, headers=operator).status_code == 201  # preparing the directory
    assert client.get(f"/v1/subscribers/{credit_code(1)}", headers=mine).status_code == 200  # seeing what is kept
    assert client.delete(f"/v1/subscribers/{credit_code(1)}", headers=mine).status_code == 204  # and erasing it
