"""The portal's disk is full for a while (a real tmpfs mounted on the portal directory): deliveries wait, none goes
`dead`, and every one is delivered once after space returns (issue 10, defect 3)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess
from tests.e2e.portal_html import index_entries
from tests.e2e.test_disk_full import fill, small_disk

ITEMS = 8
# A short retry ladder: before the fix, a full disk cost an attempt every 60 s (the portal's hint), so with two
# attempts a delivery went dead about a minute into the outage.
ENV = {"GOVCAST_MAX_ATTEMPTS": "2", "GOVCAST_RETRY_BASE_SECONDS": "1"}
FULL_SECONDS = 75


@pytest.mark.slow
def test_a_full_portal_disk_is_waited_out_and_nothing_goes_dead(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with small_disk(data / "portal", size="16m") as portal:
        process = GovcastProcess(data, env=ENV).start()
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
        try:
            first = client.submit(sample_policy(title="门户磁盘测试：第0号", channels=["portal"])).json()["id"]
            client.wait_for(first, "delivered")
            filler = fill(portal)
            ids = [first]
            for i in range(1, ITEMS + 1):
                response = client.submit(sample_policy(title=f"门户磁盘测试：第{i}号", channels=["portal"]))
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
            for pub_id in ids[1:]:
                client.wait_for(pub_id, "retrying", timeout=60)  # the portal refused it: disk full
            time.sleep(FULL_SECONDS)  # past the two attempts the ladder allows
            states = {client.get(pub_id)["status"] for pub_id in ids[1:]}
            assert states == {"retrying"}, states

            filler.unlink()
            for pub_id in ids:
                done = client.wait_for(pub_id, "delivered", timeout=90)
                portal_states = [e["status"] for e in done["timeline"] if e["channel"] == "portal"]
                assert portal_states.count("delivered") == 1 and "dead" not in portal_states, done["timeline"]
            assert Counter(e["id"] for e in index_entries(f"{process.url}/portal/index.json")) == Counter(ids)
        finally:
            process.stop()
