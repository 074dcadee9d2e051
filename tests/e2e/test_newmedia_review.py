"""New-media review end to end (issue 14): a review rule keeps the WeChat and Weibo copies waiting
while the portal goes out; an editor's approval (with an edited title) posts one, a rejection marks the other and
posts nothing (on both hosts); approved copies go out in the send window, at most the daily cap per account, by the
pipeline clock (embedded host: the stages are the same on Kafka)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from adapters.wechat.render import TITLE_MAX
from govcast.samples import DEMO_DEPARTMENT, OTHER_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess, launch

BEIJING = dt.timezone(dt.timedelta(hours=8))
CHANNELS = ["portal", "wechat", "weibo"]
RULE = {"GOVCAST_CHANNELS": ",".join(CHANNELS), "GOVCAST_NEWMEDIA_REVIEW": f"wechat,weibo:{DEMO_DEPARTMENT['publisher_code']}",
        "GOVCAST_WECHAT_POLL_SECONDS": "0.3"}  # publish results checked soon: the test waits for them


@pytest.fixture(scope="module")
def reviewed(request: pytest.FixtureRequest, host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovcastProcess]:
    process = launch(request, host, tmp_path_factory.mktemp(f"review-{host}") / "data",
                     env={**RULE, "GOVCAST_NEWMEDIA_SEND_WINDOW": "00:00-24:00"})  # this module's clock: any hour
    yield process
    process.stop()


def clients(system: GovcastProcess) -> tuple[Client, Client]:
    return (Client(system.url, system.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])),
            Client(system.url, system.token("operator", "新媒体编辑 王敏")))


def inspect(system: GovcastProcess, platform: str) -> dict[str, Any]:
    response = requests.get(f"{system.url}/sandbox/{platform}/_inspect", timeout=10)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def articles_linking(system: GovcastProcess, portal_url: str) -> list[dict[str, Any]]:
    return [a for a in inspect(system, "wechat")["articles"] if a["news_item"][0]["content_source_url"] == portal_url]


def decide(client: Client, pub_id: str, channel: str, verb: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(f"{client.base}/v1/publications/{pub_id}/deliveries/{channel}/{verb}", json=body,
                         headers={"Authorization": f"Bearer {client.token}"}, timeout=30)


def wait_channel(client: Client, pub_id: str, channel: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(pub_id)
        if (body["deliveries"].get(channel) or {}).get("status") == status:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_copies_wait_for_the_editor_who_approves_one_edited_and_rejects_the_other(reviewed: GovcastProcess) -> None:
    department, editor = clients(reviewed)
    response = department.submit(sample_policy(title="关于推进政务新媒体规范发布工作的通知", channels=CHANNELS))
    assert response.status_code == 202, response.text
    pub_id = response.json()["id"]
    # The rule names Weibo for this department only: another department's post goes out without review.
    other = Client(reviewed.url, reviewed.token("department", OTHER_DEPARTMENT["name"], OTHER_DEPARTMENT["publisher_code"]))
    unreviewed = other.submit(sample_policy(title="关于发布2025年第一批重点项目的通知", channels=["portal", "weibo"],
                                            publisher=OTHER_DEPARTMENT["name"],
                                            publisher_code=OTHER_DEPARTMENT["publisher_code"]))
    assert unreviewed.status_code == 202, unreviewed.text

    waiting = department.wait_for(pub_id, "awaiting_review", timeout=60)
    states = {c: d["status"] for c, d in waiting["deliveries"].items()}
    assert states == {"portal": "delivered", "wechat": "awaiting_review", "weibo": "awaiting_review"}
    portal_url = waiting["deliveries"]["portal"]["url"]
    time.sleep(2)  # waiting holds: nothing reaches either platform
    assert not articles_linking(reviewed, portal_url)
    assert not [p for p in inspect(reviewed, "weibo")["posts"] if portal_url in p["text"]]

    listed = requests.get(f"{reviewed.url}/v1/reviews", headers={"Authorization": f"Bearer {editor.token}"}, timeout=10)
    assert {(i["publication_id"], i["channel"]) for i in listed.json()["items"]} >= {(pub_id, "wechat"), (pub_id, "weibo")}
    copy = requests.get(f"{reviewed.url}/v1/publications/{pub_id}/deliveries/wechat/copy",
                        headers={"Authorization": f"Bearer {editor.token}"}, timeout=10).json()
    assert copy["rendition"]["content_source_url"] == portal_url and copy["rendition"]["title"]

    # The department follows its copies but does not approve its own posts; an edit beyond WeChat's limit is refused.
    assert decide(department, pub_id, "wechat", "approve").status_code == 403
    too_long = decide(editor, pub_id, "wechat", "approve", {"title": "长" * (TITLE_MAX + 1)})
    assert too_long.status_code == 422 and "body.title" in too_long.text
    approved = decide(editor, pub_id, "wechat", "approve", {"title": "政务新媒体规范发布工作通知", "digest": "编辑改写的摘要。"})
    assert approved.status_code == 202, approved.text
    assert decide(editor, pub_id, "wechat", "approve").status_code == 409  # decided once, by one editor
    rejected = decide(editor, pub_id, "weibo", "reject", {"reason": "与昨日微博内容重复"})
    assert rejected.status_code == 200, rejected.text

    done = wait_channel(editor, pub_id, "wechat", "delivered")
    [article] = articles_linking(reviewed, portal_url)
    assert article["news_item"][0]["title"] == "政务新媒体规范发布工作通知"
    assert article["news_item"][0]["digest"] == "编辑改写的摘要。"
    done = editor.wait_for(pub_id, "partially_delivered", timeout=30)
    assert done["deliveries"]["weibo"]["status"] == "rejected"
    assert "与昨日微博内容重复" in done["deliveries"]["weibo"]["detail"]
    assert not [p for p in inspect(reviewed, "weibo")["posts"] if portal_url in p["text"]]
    signed = {(e["channel"], e["status"]): e["actor"] for e in done["timeline"] if e["actor"]}
    assert "新媒体编辑 王敏" in signed[("wechat", "delivering")] and "新媒体编辑 王敏" in signed[("weibo", "rejected")]
    assert other.wait_for(unreviewed.json()["id"], "delivered", timeout=60)["deliveries"]["weibo"]["status"] == "delivered"
    trail = requests.get(f"{reviewed.url}/v1/audit", params={"publication": pub_id},
                         headers={"Authorization": f"Bearer {editor.token}"}, timeout=10).json()
    assert {e["action"] for e in trail["items"]} >= {"newmedia.approve", "newmedia.reject"}


def beijing_today(hour: int) -> str:
    return dt.datetime.now(BEIJING).replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()


def advance_to(system: GovcastProcess, moment: dt.datetime) -> None:
    now = dt.datetime.fromisoformat(requests.get(f"{system.url}/sandbox/_clock", timeout=10).json()["now"])
    requests.post(f"{system.url}/sandbox/_clock", json={"advance_seconds": max(0.0, (moment - now).total_seconds())},
                  headers=system.operator_headers(), timeout=10).raise_for_status()


def test_approved_copies_wait_for_the_send_window_and_the_daily_cap(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """22:00 Beijing time: two WeChat copies wait for the editor through a restart; once approved they wait for
    08:00; with a cap of one a day, the second waits for the day after."""
    system = launch(request, "embedded", tmp_path / "data",
                    env={**RULE, "GOVCAST_CLOCK_START": beijing_today(22), "GOVCAST_NEWMEDIA_DAILY_CAP": '{"wechat": 1}'})
    try:
        department, editor = clients(system)
        ids = []
        for title in ("关于夜间审核演练的通知（一）", "关于夜间审核演练的通知（二）"):
            response = department.submit(sample_policy(title=title, channels=["portal", "wechat"]))
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        for pub_id in ids:
            department.wait_for(pub_id, "awaiting_review", timeout=60)
        system.stop()  # waiting is durable: a restart changes nothing (the clock starts at 22:00 again)
        system.start()
        for pub_id in ids:
            assert department.get(pub_id)["deliveries"]["wechat"]["status"] == "awaiting_review"
            assert decide(editor, pub_id, "wechat", "approve").status_code == 202
        for pub_id in ids:
            detail = wait_channel(editor, pub_id, "wechat", "scheduled")["deliveries"]["wechat"]["detail"]
            assert "outside the send window 08:00-21:00" in detail and " 08:00 (Beijing time)" in detail
        assert inspect(system, "wechat")["articles"] == []

        tomorrow = dt.datetime.now(BEIJING).date() + dt.timedelta(days=1)
        advance_to(system, dt.datetime.combine(tomorrow, dt.time(8, 0, 5), BEIJING))
        first = [wait_channel(editor, pub_id, "wechat", "delivered", timeout=60) for pub_id in ids[:1]]
        assert first
        second = wait_channel(editor, ids[1], "wechat", "scheduled")
        deadline = time.monotonic() + 30
        while "daily cap" not in (second["deliveries"]["wechat"]["detail"] or ""):
            assert time.monotonic() < deadline, second
            time.sleep(0.2)
            second = editor.get(ids[1])
        assert len(inspect(system, "wechat")["articles"]) == 1

        advance_to(system, dt.datetime.combine(tomorrow + dt.timedelta(days=1), dt.time(8, 0, 5), BEIJING))
        wait_channel(editor, ids[1], "wechat", "delivered", timeout=60)
        assert len(inspect(system, "wechat")["articles"]) == 2
    finally:
        system.stop()
