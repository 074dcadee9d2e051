"""Disclosure platform channel end to end: `govcast run` with the bundled sandbox platform.

A 供水 notice for two water companies files two records carrying the portal URL; a revision
to 失效 updates both; a retraction revokes both; a maintenance window holds the disclosure
deliveries (and only them) until it ends; the sandbox never refuses a request of govcast's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess, launch

WATER_A, WATER_B = "91370100MA3C8W1A0N", "91370112MA3D2K7B1C"


@pytest.fixture(scope="module")
def govcast(request: pytest.FixtureRequest, host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovcastProcess]:
    process = launch(request, host, tmp_path_factory.mktemp(f"disclosure-{host}") / "data", env={
        "GOVCAST_CHANNELS": "portal,disclosure",
        "GOVCAST_RETRY_BASE_SECONDS": "0.2", "GOVCAST_RETRY_MAX_SECONDS": "1", "GOVCAST_MAX_ATTEMPTS": "100",
    })
    yield process
    process.stop()


@pytest.fixture(scope="module")
def editor(govcast: GovcastProcess) -> Client:
    return Client(govcast.url, govcast.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))


@pytest.fixture
def platform(govcast: GovcastProcess) -> Iterator[str]:
    """The sandbox platform's URL; after each test, no request of govcast's may have been refused."""
    url = f"{govcast.url}/sandbox/disclosure"
    yield url
    requests.post(f"{url}/_faults", json={"clear": True}, headers=govcast.operator_headers(), timeout=10).raise_for_status()
    assert inspect(url)["refused"] == []


def inspect(url: str) -> dict[str, Any]:
    response = requests.get(f"{url}/_inspect", timeout=10)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def records_of(url: str, pub_id: str) -> dict[str, dict[str, Any]]:
    return {r["unit"]["credit_code"]: r for r in inspect(url)["records"] if r["source_id"] == pub_id}


def water_notice(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": "关于2025年第二季度居民生活用水水质检测结果的公告", "kind": "notice", "category": "通知公告", "doc_no": "",
        "body": "<p>现将本季度出厂水、管网水水质检测结果公告如下，各项指标均符合国家标准。</p>",
        "units": [WATER_A, WATER_B], "disclosure_matter": "水质信息"}
    return sample_policy(**{**fields, **changes})


def test_a_water_notice_reaches_the_platform_for_both_companies_and_follows_its_changes(
        editor: Client, platform: str) -> None:
    response = editor.submit(water_notice())
    assert response.status_code == 202, response.text
    pub_id = response.json()["id"]
    done = editor.wait_for(pub_id, "delivered")
    assert done["channels"] == ["portal", "disclosure"] and done["units"] == [WATER_A, WATER_B]
    portal_url = done["deliveries"]["portal"]["url"]
    assert done["deliveries"]["disclosure"]["status"] == "delivered"
    filed = records_of(platform, pub_id)
    assert set(filed) == {WATER_A, WATER_B}
    for record in filed.values():
        assert record["source_url"] == portal_url  # the record points at the portal page
        assert record["unit"]["sector"] == "供水" and record["status"] == "published" and record["validity"] == "有效"
        assert record["disclosure_matter"] == "水质信息" and record["title"] == water_notice()["title"]
        assert requests.get(record["url"], timeout=10).status_code == 200  # the platform's own page of the record
    assert requests.get(portal_url, timeout=10).status_code == 200

    revised = editor.revise(pub_id, water_notice(validity="失效"))
    assert revised.status_code == 202, revised.text
    editor.wait_for(pub_id, "delivered", version=2)
    updated = records_of(platform, pub_id)
    assert {c: r["record_id"] for c, r in updated.items()} == {c: r["record_id"] for c, r in filed.items()}
    assert {r["validity"] for r in updated.values()} == {"失效"}

    assert editor.retract(pub_id, "检测数据有误，另行发布").status_code == 202
    gone = editor.wait_for(pub_id, "retracted")
    assert gone["deliveries"]["disclosure"]["status"] == "retracted"
    revoked = records_of(platform, pub_id)
    assert {(r["status"], r["revoke_reason"]) for r in revoked.values()} == {("revoked", "检测数据有误，另行发布")}


def test_maintenance_holds_only_the_disclosure_deliveries_until_it_ends(editor: Client, platform: str,
                                                                        govcast: GovcastProcess) -> None:
    operator = govcast.operator_headers()  # sandbox controls need an operator token
    requests.post(f"{platform}/_faults", json={"maintenance_seconds": 120}, headers=operator, timeout=10).raise_for_status()
    started = time.monotonic()
    pub_id = editor.submit(water_notice(title="关于城区部分区域计划停水的通知")).json()["id"]
    # the portal copy is not delayed by the platform's outage
    deadline, body = time.monotonic() + 20, {}
    while time.monotonic() < deadline:
        body = editor.get(pub_id)
        if body["deliveries"].get("portal", {}).get("status") == "delivered":
            break
        time.sleep(0.1)
    assert body["deliveries"]["portal"]["status"] == "delivered", body
    portal_after = time.monotonic() - started
    assert portal_after < 10
    waiting = editor.wait_for(pub_id, "retrying", timeout=20)
    assert "MAINTENANCE" in waiting["deliveries"]["disclosure"]["detail"]
    time.sleep(2)  # several retries at the short test ladder, all refused by the window, none dead
    state = editor.get(pub_id)
    assert state["deliveries"]["disclosure"]["status"] in ("retrying", "delivering")
    assert records_of(platform, pub_id) == {}
    assert sum(r["status"] == 503 for r in inspect(platform)["requests"]) >= 2
    # two minutes of sandbox time pass: the window is over and the retries complete
    requests.post(f"{platform}/_clock", json={"advance_seconds": 121}, headers=operator, timeout=10).raise_for_status()
    done = editor.wait_for(pub_id, "delivered", timeout=30)
    assert done["deliveries"]["disclosure"]["status"] == "delivered"
    assert set(records_of(platform, pub_id)) == {WATER_A, WATER_B}


def test_items_without_units_skip_the_channel_and_naming_it_without_units_is_refused(editor: Client, platform: str) -> None:
    plain = editor.submit(sample_policy(title="关于政务公开专区开放时间的通知"))
    assert plain.status_code == 202, plain.text
    done = editor.wait_for(plain.json()["id"], "delivered")
    assert done["channels"] == ["portal"] and "disclosure" not in done["deliveries"]

    refused = editor.submit(sample_policy(title="关于供水的通知", channels=["portal", "disclosure"]))
    assert refused.status_code == 422, refused.text
    assert any(e.get("field") == "body.units" or "units" in str(e) for e in refused.json().get("errors", [])), refused.text

    unknown = editor.submit(water_notice(units=[WATER_A, "91370100MA3E5P2C40"]))
    assert unknown.status_code == 422  # not a valid credit code
    unregistered = editor.submit(water_notice(units=["91350100M000100Y0N"]))
    assert unregistered.status_code == 422 and "registry" in unregistered.text


def test_sandbox_is_listed_and_inspectable(govcast: GovcastProcess, platform: str) -> None:
    state = inspect(platform)
    assert state["units"] >= 2 and "clock" in state and "faults" in state
    assert Path(govcast.data_dir).exists()
