"""新媒体待审核 in the console and the API: the waiting copy shown as it will be posted, approve with edits, reject
with a reason; operators only, CSRF on every form, one decision per copy, and the queued task carries the edits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.weibo.render import render_weibo
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from persistence.store import StatusStore
from producers.api import create_app
from producers.auth import new_token
from schemas.delivery import DeliveryStatus, StatusEvent
from schemas.events import Topics
from schemas.publication import Publication
from settings import Settings
from tests.producers.conftest import OutageSwitch
from tests.producers.test_console_access import csrf_in, login

CODE = DEMO_DEPARTMENT["publisher_code"]


@pytest.fixture
def reviewed(settings: Settings, store: StatusStore, bus: OutageSwitch) -> Any:
    settings = settings.model_copy(update={"newmedia_review": ["wechat", "weibo"]})
    with TestClient(create_app(settings, store, bus)) as client:
        yield client, settings


def waiting_copy(client: TestClient, store: StatusStore, dept: dict[str, str]) -> Publication:
    """A submitted publication whose WeChat and Weibo copies the plan stage recorded as awaiting review."""
    response = client.post("/v1/publications", json=sample_policy(channels=["portal", "wechat", "weibo"]), headers=dept)
    assert response.status_code == 202, response.text
    pub = store.publication(response.json()["id"])
    assert pub is not None
    now = dt.datetime.now(dt.UTC)
    for channel in ("wechat", "weibo"):
        store.apply_status(f"plan-{channel}", StatusEvent(publication_id=pub.id, version=1, channel=channel,
                                                          status=DeliveryStatus.awaiting_review, at=now))
    return pub


def queued(bus: OutageSwitch, channel: str) -> list[dict[str, Any]]:
    topic = Topics.deliveries(channel)
    return [r.event.data for part in range(bus.log.ensure_topic(topic))
            for r in bus.log.fetch("tests", topic, part, limit=100)]


def test_an_editor_approves_an_edited_weibo_post_once(reviewed: Any, store: StatusStore, bus: OutageSwitch,
                                                      dept: dict[str, str]) -> None:
    client, settings = reviewed
    pub = waiting_copy(client, store, dept)
    login(client, new_token(store, "operator", "新媒体编辑 李强"))
    listing = client.get("/console/reviews")
    assert listing.status_code == 200 and pub.title in listing.text
    assert f"/console/reviews/{pub.id}/weibo" in listing.text and f"/console/reviews/{pub.id}/wechat" in listing.text
    page = client.get(f"/console/reviews/{pub.id}/weibo")
    rendered = render_weibo(pub, settings)
    assert page.status_code == 200 and rendered["url"] in page.text  # the post as it will appear, link included

    csrf = csrf_in(page.text)
    assert client.post(f"/console/reviews/{pub.id}/weibo/approve", data={"text": "x"}).status_code == 403  # no CSRF
    too_long = "长" * 140
    refused = client.post(f"/console/reviews/{pub.id}/weibo/approve", data={"csrf": csrf, "text": too_long})
    assert refused.status_code == 422 and "at most 140" in refused.text and too_long in refused.text  # kept to fix
    screened = client.post(f"/console/reviews/{pub.id}/weibo/approve", data={"csrf": csrf, "text": "咨询13812345678"})
    alert = screened.text.split('role="alert"', 1)[1].split("</div>", 1)[0]
    assert screened.status_code == 422 and "screening stops it" in alert
    assert "138****5678" in alert and "13812345678" not in alert  # the finding is masked (the field keeps the text)
    text = "【政务公开】编辑改写的微博"
    done = client.post(f"/console/reviews/{pub.id}/weibo/approve", data={"csrf": csrf, "text": text},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/console/reviews?done=review-approve"
    [task] = queued(bus, "weibo")
    assert task["rendition"]["status"] == f"{text} {rendered['url']}" and task["channel"] == "weibo"
    assert store.deliveries_of(pub.id)["weibo"]["status"] == "delivering"
    again = client.post(f"/console/reviews/{pub.id}/weibo/approve", data={"csrf": csrf, "text": text + "。"})
    assert again.status_code == 409 and len(queued(bus, "weibo")) == 1  # decided once, queued once
    assert f"/console/reviews/{pub.id}/weibo" not in client.get("/console/reviews").text
    metrics = client.get("/metrics").text  # the WeChat copy still waits; the Weibo one no longer does
    assert 'govcast_awaiting_review{channel="wechat"} 1.0' in metrics
    assert 'govcast_awaiting_review{channel="weibo"} 0.0' in metrics


def test_a_rejected_copy_is_not_queued_and_the_reason_is_kept(reviewed: Any, store: StatusStore, bus: OutageSwitch,
                                                               dept: dict[str, str], operator: dict[str, str]) -> None:
    client, _ = reviewed
    pub = waiting_copy(client, store, dept)
    no_reason = client.post(f"/v1/publications/{pub.id}/deliveries/wechat/reject", json={"reason": ""}, headers=operator)
    assert no_reason.status_code == 422
    done = client.post(f"/v1/publications/{pub.id}/deliveries/wechat/reject", json={"reason": "标题与正文不符"},
                       headers=operator)
    assert done.status_code == 200, done.text
    assert queued(bus, "wechat") == []
    state = store.deliveries_of(pub.id)["wechat"]
    assert state["status"] == "rejected" and "标题与正文不符" in state["detail"]
    assert client.post(f"/v1/publications/{pub.id}/deliveries/wechat/approve", headers=operator).status_code == 409


def test_a_department_sees_its_waiting_copies_but_does_not_decide(reviewed: Any, store: StatusStore,
                                                                  bus: OutageSwitch, dept: dict[str, str]) -> None:
    client, _ = reviewed
    pub = waiting_copy(client, store, dept)
    assert client.post(f"/v1/publications/{pub.id}/deliveries/wechat/approve", headers=dept).status_code == 403
    listed = client.get("/v1/reviews", headers=dept).json()["items"]
    assert {(i["publication_id"], i["channel"]) for i in listed} == {(pub.id, "wechat"), (pub.id, "weibo")}
    other = new_token(store, "department", "济南市数据局（演示）", "11370100MB2866908X")
    assert client.get("/v1/reviews", headers={"Authorization": f"Bearer {other}"}).json()["items"] == []
    assert client.get(f"/v1/publications/{pub.id}/deliveries/wechat/copy",
                      headers={"Authorization": f"Bearer {other}"}).status_code == 404
    login(client, new_token(store, "department", DEMO_DEPARTMENT["name"], CODE))
    page = client.get(f"/console/reviews/{pub.id}/wechat")
    assert page.status_code == 200 and "/approve" not in page.text
    csrf = csrf_in(page.text)
    assert client.post(f"/console/reviews/{pub.id}/wechat/approve", data={"csrf": csrf}).status_code == 403
    assert queued(bus, "wechat") == []
