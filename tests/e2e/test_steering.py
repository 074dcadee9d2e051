"""Operators steer deliveries on both hosts: dead letters reach the store and are requeued, a paused channel
holds its deliveries (nothing lost) until resumed, one failed delivery is retried now, and every action is
signed with the operator's name on the publication's timeline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from processors.pause_cache import PAUSE_READ_SECONDS
from tests.conftest import Client, GovcastProcess, launch

CHANNELS = ["portal", "weibo"]


@pytest.fixture(scope="module")
def govcast(request: pytest.FixtureRequest, host: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GovcastProcess, Client, Client]]:
    """Short retry ladder (two attempts, then dead letter) so outages end in dead letters quickly."""
    env = {"GOVCAST_RETRY_BASE_SECONDS": "0.2", "GOVCAST_RETRY_MAX_SECONDS": "0.5", "GOVCAST_MAX_ATTEMPTS": "2",
           "GOVCAST_CHANNELS": ",".join(CHANNELS)}
    process = launch(request, host, tmp_path_factory.mktemp(f"steering-{host}") / "data", env=env)
    department = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
    operator = Client(process.url, process.token("operator", "值班员张敏"))
    yield process, department, operator
    process.stop()


def call(client: Client, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(method, f"{client.base}{path}", json=body, timeout=30,
                            headers={"Authorization": f"Bearer {client.token}"})


def weibo(system: GovcastProcess, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = requests.request("POST" if body is not None else "GET", f"{system.url}/sandbox/weibo/{path}",
                                json=body, headers=system.operator_headers(), timeout=10)  # sandbox controls: operators only
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def submit(client: Client, title: str) -> str:
    response = client.submit(sample_policy(channels=CHANNELS, title=title))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_channel(client: Client, pub_id: str, channel: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline, body = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        body = client.get(pub_id)
        if body["deliveries"].get(channel, {}).get("status") == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"{channel} of {pub_id} never became {status}: {body.get('deliveries')}")


def wait_dead_letters(operator: Client, channel: str, pub_id: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline, items = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        items = call(operator, "GET", f"/v1/deadletters?channel={channel}").json()["items"]
        if any(i["publication_id"] == pub_id for i in items):
            return items
        time.sleep(0.1)
    raise AssertionError(f"no dead letter of {pub_id} on {channel}: {items}")


def test_dead_letters_after_an_outage_are_listed_and_requeued_with_a_count(
        govcast: tuple[GovcastProcess, Client, Client]) -> None:
    system, department, operator = govcast
    weibo(system, "_faults", {"busy": 100})  # Weibo says "system busy" to every call: the ladder gives up
    ids = [submit(department, f"关于第{n}次微博故障演练的通知") for n in range(2)]
    for pub_id in ids:
        wait_channel(department, pub_id, "weibo", "dead")
        items = wait_dead_letters(operator, "weibo", pub_id)
    assert {i["kind"] for i in items} == {"delivery"} and all("10001" in i["reason"] for i in items)
    weibo(system, "_faults", {"busy": 0})  # the outage is over

    answer = call(operator, "POST", "/v1/channels/weibo/deadletters/requeue")
    assert answer.status_code == 200 and answer.json() == {"requeued": 2}
    for pub_id in ids:
        body = wait_channel(department, pub_id, "weibo", "delivered")
        assert any(e["actor"] == "值班员张敏 (操作员)" and "requeued" in e["detail"] for e in body["timeline"])
    assert call(operator, "GET", "/v1/deadletters?channel=weibo").json()["items"] == []
    # Requeued once means requeued once: a second click finds nothing left.
    assert call(operator, "POST", "/v1/channels/weibo/deadletters/requeue").json() == {"requeued": 0}


def test_a_paused_channel_holds_its_deliveries_until_resumed(govcast: tuple[GovcastProcess, Client, Client]) -> None:
    system, department, operator = govcast
    assert call(operator, "POST", "/v1/channels/weibo/pause", {"reason": "微博账号维护"}).status_code == 200
    time.sleep(PAUSE_READ_SECONDS)  # the stated bound: a pause holds for deliveries checked from a second after it
    pub_id = submit(department, "关于微博账号维护期间发布安排的通知")
    wait_channel(department, pub_id, "portal", "delivered")  # other channels go on
    body = wait_channel(department, pub_id, "weibo", "paused")
    assert "微博账号维护" in body["deliveries"]["weibo"]["detail"]
    paused = {c["channel"]: c["paused"] for c in call(operator, "GET", "/v1/channels").json()["channels"]}
    assert paused["weibo"]["paused_by"] == "值班员张敏 (操作员)" and paused["portal"] is None
    time.sleep(6)  # longer than a recheck: still nothing on Weibo
    assert not [p for p in weibo(system, "_inspect")["posts"] if "维护期间" in p["text"]]

    assert call(operator, "POST", "/v1/channels/weibo/resume").status_code == 200
    wait_channel(department, pub_id, "weibo", "delivered")
    assert len([p for p in weibo(system, "_inspect")["posts"] if "维护期间" in p["text"]]) == 1


def test_retry_now_delivers_a_failed_delivery_and_signs_the_timeline(
        govcast: tuple[GovcastProcess, Client, Client]) -> None:
    system, department, operator = govcast
    weibo(system, "_faults", {"revoke_token": True})  # a configuration problem: rejected, not retried
    pub_id = submit(department, "关于微博授权失效演练的通知")
    wait_channel(department, pub_id, "weibo", "failed")
    weibo(system, "_faults", {"revoke_token": False})
    assert call(department, "POST", f"/v1/publications/{pub_id}/deliveries/weibo/retry").status_code == 403
    answer = call(operator, "POST", f"/v1/publications/{pub_id}/deliveries/weibo/retry")
    assert answer.status_code == 200 and answer.json() == {"done": "retried"}
    body = wait_channel(department, pub_id, "weibo", "delivered")
    assert any(e["actor"] == "值班员张敏 (操作员)" and e["detail"] == "retry now requested" for e in body["timeline"])
    # Retrying what was delivered is refused with the reason.
    again = call(operator, "POST", f"/v1/publications/{pub_id}/deliveries/weibo/retry")
    assert again.status_code == 409 and "delivered" in again.json()["detail"]


def test_channel_figures_count_what_the_store_saw(govcast: tuple[GovcastProcess, Client, Client]) -> None:
    _, department, operator = govcast
    pub_id = submit(department, "关于渠道统计核对的通知")
    department.wait_for(pub_id, "delivered")
    figures = {c["channel"]: c for c in call(operator, "GET", "/v1/channels").json()["channels"]}
    portal = figures["portal"]
    assert portal["last_day"] >= 1 and portal["success_rate"] > 0 and portal["p50_ms"] is not None
    assert portal["p95_ms"] >= portal["p50_ms"] and portal["last_success"] is not None
    assert figures["weibo"]["last_error"] is not None  # the outages above


def test_metrics_parse_and_agree_with_the_store(govcast: tuple[GovcastProcess, Client, Client]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    system, department, operator = govcast
    pub_id = submit(department, "关于指标核对的通知")
    department.wait_for(pub_id, "delivered")
    listing = call(operator, "GET", "/v1/publications?per_page=100").json()["items"]
    timelines = [operator.get(item["id"])["timeline"] for item in listing]
    text = requests.get(f"{system.url}/metrics", timeout=30).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}

    for channel in CHANNELS:
        for outcome in ("delivered", "failed", "dead", "retrying"):
            expected = sum(1 for timeline in timelines for e in timeline
                           if e["channel"] == channel and e["status"] == outcome)
            got = samples[("govcast_deliveries_total", (("channel", channel), ("outcome", outcome)))]
            assert got == expected, (channel, outcome, got, expected)
        delivered = samples[("govcast_deliveries_total", (("channel", channel), ("outcome", "delivered")))]
        assert samples[("govcast_delivery_latency_seconds_count", (("channel", channel),))] == delivered
        assert samples[("govcast_dead_letters", (("channel", channel),))] == len(
            call(operator, "GET", f"/v1/deadletters?channel={channel}").json()["items"])
        assert samples[("govcast_channel_paused", (("channel", channel),))] == 0
    assert ("govcast_inspection_findings", (("check", "backdated"),)) in samples
    assert any(name == "govcast_inspection_column_level" for name, _ in samples)
