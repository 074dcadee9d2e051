"""WeChat mass send end to end, on both hosts (the Kafka host runs the same stage code through faust): with
GOVCAST_WECHAT_MASS_SEND three policies' WeChat copies wait, `scheduled`, for the daily send time of the pipeline
clock and then go to every follower as one message of three articles, each copy delivered with its own article."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import HOST_PARAMS, Client, launch

BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize("host", HOST_PARAMS)
def test_the_days_copies_go_out_as_one_multi_article_message(request: pytest.FixtureRequest, tmp_path: Path,
                                                             host: str) -> None:
    start = dt.datetime.now(BEIJING).replace(hour=10, minute=0, second=0, microsecond=0)
    system = launch(request, host, tmp_path / "data", env={
        "GOVCAST_CHANNELS": "portal,wechat", "GOVCAST_WECHAT_MASS_SEND": "true", "GOVCAST_WECHAT_MASS_SEND_TIME": "18:00",
        "GOVCAST_WECHAT_POLL_SECONDS": "0.3", "GOVCAST_CLOCK_START": start.isoformat()})
    try:
        department = Client(system.url, system.token("department", DEMO_DEPARTMENT["name"],
                                                     DEMO_DEPARTMENT["publisher_code"]))
        ids = []
        for n in (1, 2, 3):
            response = department.submit(sample_policy(title=f"关于群发演练的通知（{n}）", channels=["portal", "wechat"]))
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        for pub_id in ids:
            wechat = wait_wechat(department, pub_id, "scheduled")
            assert f"{start:%Y-%m-%d} 18:00" in wechat["detail"] and "one multi-article message" in wechat["detail"]
        assert inspect(system.url)["mass_sends"] == []

        now = dt.datetime.fromisoformat(requests.get(f"{system.url}/sandbox/_clock", timeout=10).json()["now"])
        requests.post(f"{system.url}/sandbox/_clock", json={"advance_seconds": (start.replace(hour=18) - now).total_seconds() + 5},
                      headers=system.operator_headers(), timeout=10).raise_for_status()
        delivered = [wait_wechat(department, pub_id, "delivered") for pub_id in ids]
        [sent] = inspect(system.url)["mass_sends"]
        assert sent["is_to_all"] and sent["articles"] == 3
        assert sorted(d["url"] for d in delivered) == sorted(sent["urls"])  # each copy names its own article
        assert inspect(system.url)["publish_jobs"] == []  # nothing went out one by one
    finally:
        system.stop()


def inspect(base: str) -> dict[str, Any]:
    return requests.get(f"{base}/sandbox/wechat/_inspect", timeout=10).json()  # type: ignore[no-any-return]


def wait_wechat(client: Client, pub_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        wechat = client.get(pub_id)["deliveries"].get("wechat") or {}
        if wechat.get("status") == status:
            return wechat  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, wechat
        time.sleep(0.2)
