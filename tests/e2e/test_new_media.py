"""New media end to end: one publication reaches the portal, the WeChat official account and Weibo (sandboxes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from adapters.weibo.render import weibo_length
from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess, launch

CHANNELS = ["portal", "wechat", "weibo"]


def inspect(system: GovcastProcess, platform: str) -> dict[str, Any]:
    response = requests.get(f"{system.url}/sandbox/{platform}/_inspect", timeout=10)
    assert response.status_code == 200 and response.json()["sandbox"] is True
    assert response.headers["x-govcast-sandbox"] == platform
    return response.json()  # type: ignore[no-any-return]


def control(system: GovcastProcess, platform: str, path: str, body: dict[str, Any]) -> None:
    assert requests.post(f"{system.url}/sandbox/{platform}/{path}", json=body, headers=system.operator_headers(),
                         timeout=10).status_code == 200


def submit(client: Client, **changes: Any) -> str:
    response = client.submit(sample_policy(channels=CHANNELS, **changes))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def article_of(system: GovcastProcess, portal_url: str) -> dict[str, Any]:
    found = [a for a in inspect(system, "wechat")["articles"] if a["news_item"][0]["content_source_url"] == portal_url]
    assert len(found) == 1, found
    return found[0]


def test_one_publication_reaches_portal_wechat_and_weibo(system: GovcastProcess, department: Client) -> None:
    pub_id = submit(department, title="关于推进政务新媒体规范发布工作的通知")
    done = department.wait_for(pub_id, "delivered", timeout=60)
    assert {c: d["status"] for c, d in done["deliveries"].items()} == dict.fromkeys(CHANNELS, "delivered")
    portal_url = done["deliveries"]["portal"]["url"]
    assert requests.get(portal_url, timeout=10).status_code == 200

    article = article_of(system, portal_url)  # 阅读原文 is the portal page
    assert done["deliveries"]["wechat"]["url"].startswith(article["url"])
    page = requests.get(article["url"], timeout=10)
    assert page.status_code == 200 and "SANDBOX" in page.text and portal_url in page.text
    assert f"来源：{DEMO_DEPARTMENT['name']}" in article["news_item"][0]["content"] or "来源：" in article["news_item"][0]["content"]
    assert any(cb["publish_status"] == 0 and cb.get("http_status") == 200 for cb in inspect(system, "wechat")["callbacks"])

    [post] = [p for p in inspect(system, "weibo")["posts"] if portal_url in p["text"]]
    assert weibo_length(post["text"]) <= 140 and post["text"].endswith(portal_url)
    assert done["deliveries"]["weibo"]["url"] == post["url"]


def test_retraction_deletes_on_both_platforms(system: GovcastProcess, department: Client) -> None:
    pub_id = submit(department, title="关于调整政务新媒体账号运营时间的通知")
    done = department.wait_for(pub_id, "delivered", timeout=60)
    portal_url = done["deliveries"]["portal"]["url"]
    assert department.retract(pub_id, "信息有误，撤回后重新发布").status_code == 202
    gone = department.wait_for(pub_id, "retracted", timeout=60)
    assert {c: d["status"] for c, d in gone["deliveries"].items()} == dict.fromkeys(CHANNELS, "retracted")
    article = article_of(system, portal_url)
    assert article["deleted"] is True
    assert article["article_id"] in {d["article_id"] for d in inspect(system, "wechat")["deletions"]}
    weibo = inspect(system, "weibo")
    [post] = [p for p in weibo["posts"] if portal_url in p["text"]]
    assert post["deleted"] is True and post["idstr"] in {d["id"] for d in weibo["deletions"]}


@pytest.fixture(scope="module")
def quick(request: pytest.FixtureRequest, host: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GovcastProcess, Client]]:
    """A govcast with short retry delays, short WeChat timeouts and room for many attempts (fault tests)."""
    env = {"GOVCAST_RETRY_BASE_SECONDS": "0.2", "GOVCAST_RETRY_MAX_SECONDS": "1", "GOVCAST_MAX_ATTEMPTS": "30",
           "GOVCAST_WECHAT_TIMEOUT_SECONDS": "1", "GOVCAST_WECHAT_POLL_SECONDS": "0.3"}
    if host == "kafka":
        # One Kafka-host govcast at a time (fixed topics and consumer group, see tests.conftest.launch): the
        # module's system is restarted with these settings instead -- same data dir, port and tokens.
        process: GovcastProcess = request.getfixturevalue("system")
        process.stop()
        process.env = env
        process.start()
    else:
        process = launch(request, host, tmp_path_factory.mktemp("newmedia") / "data", env=env)
    client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
    yield process, client
    process.stop()


def timeline_has(client: Client, pub_id: str, channel: str, status: str, words: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(pub_id)
        if any(e["channel"] == channel and e["status"] == status and words in (e["detail"] or "") for e in body["timeline"]):
            return
        time.sleep(0.1)
    raise AssertionError(f"no {channel} {status} with {words!r}: {client.get(pub_id)['timeline']}")


def test_faults_busy_expired_token_and_lost_callbacks_still_deliver(quick: tuple[GovcastProcess, Client]) -> None:
    system, client = quick
    control(system, "wechat", "_faults", {"busy": 3, "expire_token": True, "drop_callbacks": True})
    pub_id = submit(client, title="关于政务新媒体故障演练的通知")
    done = client.wait_for(pub_id, "delivered", timeout=60)
    assert done["deliveries"]["wechat"]["status"] == "delivered"
    timeline_has(client, pub_id, "wechat", "retrying", "system busy")
    state = inspect(system, "wechat")
    assert state["callbacks"][-1].get("dropped") is True  # resolved by polling freepublish/get
    assert len([t for t in state["tokens"] if not t["revoked"]]) >= 2  # refreshed after 42001
    control(system, "wechat", "_faults", {"drop_callbacks": False})


def test_quota_exhaustion_defers_until_the_quota_day_rolls_over(quick: tuple[GovcastProcess, Client]) -> None:
    system, client = quick
    control(system, "wechat", "_faults", {"quota": True})
    pub_id = submit(client, title="关于政务新媒体发布额度演练的通知")
    timeline_has(client, pub_id, "wechat", "retrying", "45009")
    assert client.get(pub_id)["deliveries"]["wechat"]["status"] == "retrying"
    control(system, "wechat", "_clock", {"advance_seconds": 86400})
    done = client.wait_for(pub_id, "delivered", timeout=60)
    assert done["deliveries"]["wechat"]["status"] == "delivered"


def test_review_rejection_fails_the_channel_with_the_reason(quick: tuple[GovcastProcess, Client]) -> None:
    system, client = quick
    control(system, "wechat", "_faults", {"reject_review": 1})
    pub_id = submit(client, title="关于政务新媒体审核演练的通知")
    body = client.wait_for(pub_id, "partially_delivered", timeout=60)
    wechat = body["deliveries"]["wechat"]
    assert wechat["status"] == "failed" and "rejected by review" in wechat["detail"]
    assert body["deliveries"]["weibo"]["status"] == "delivered"


def test_submit_timeout_publishes_exactly_once(quick: tuple[GovcastProcess, Client]) -> None:
    system, client = quick
    control(system, "wechat", "_faults", {"timeout_submit": 1, "delay_seconds": 2.5})
    pub_id = submit(client, title="关于政务新媒体超时演练的通知")
    done = client.wait_for(pub_id, "delivered", timeout=60)
    timeline_has(client, pub_id, "wechat", "retrying", "outcome unknown")
    article = article_of(system, done["deliveries"]["portal"]["url"])
    jobs = [j for j in inspect(system, "wechat")["publish_jobs"] if j["article_id"] == article["article_id"]]
    assert len(jobs) == 1


def test_sandbox_pages_are_labelled(system: GovcastProcess) -> None:
    for platform in ("wechat", "weibo"):
        assert inspect(system, platform)["platform"] == platform
        docs = requests.get(f"{system.url}/sandbox/{platform}/_docs", timeout=10)
        assert docs.status_code == 200 and docs.headers["x-govcast-sandbox"] == platform
