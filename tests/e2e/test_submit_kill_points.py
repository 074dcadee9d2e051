"""kill -9 at every step of the submit path (persistence.faults kill points, a real SIGKILL of a real process).

Before, inside and after the store commit, before and after the outbox relay's bus append:
after a restart and the clients' retries (same Idempotency-Key), every 202-answered
submission is delivered exactly once, nothing is published that the API cannot find
(no orphan), and no 索引号 is given twice.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess
from tests.e2e.portal_html import index_entries

ITEMS = 16
KILL_ON_HIT = 6  # the kill fires the 6th time the step is reached: some submissions are answered first
STEPS = ["commit:before", "commit:inside", "commit:after", "relay:before-send", "relay:after-send"]


def payload(i: int) -> dict:  # type: ignore[type-arg]
    return sample_policy(title=f"断点测试通知第{i + 1}号", channels=["portal"])


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_kill_at_each_step_of_the_submit_path(tmp_path: Path, step: str) -> None:
    process = GovcastProcess(tmp_path / "data", env={"GOVCAST_KILL_AT": f"{step}:{KILL_ON_HIT}"}).start()
    client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
    keys = [str(uuid.uuid4()) for _ in range(ITEMS)]
    accepted: dict[str, str] = {}  # idempotency key -> publication id, answered 202 before the kill
    lock = threading.Lock()

    def submit(i: int) -> None:
        try:
            response = client.submit(payload(i), key=keys[i])
        except requests.ConnectionError:
            return  # no answer: the client retries later with the same key
        assert response.status_code == 202, response.text
        with lock:
            accepted[keys[i]] = response.json()["id"]

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(submit, range(ITEMS)))
        assert process.proc is not None and process.proc.wait(timeout=30) == -9, "the kill point never fired"
        assert len(accepted) < ITEMS

        process.env = {}
        process.start()  # same data dir, same port, no kill point
        ids: dict[str, str] = {}
        for i, key in enumerate(keys):
            response = client.submit(payload(i), key=key)
            assert response.status_code == 202, response.text
            if key in accepted:
                assert response.json()["id"] == accepted[key]  # a replay of the answer the client already had
            ids[key] = response.json()["id"]

        assert len(set(ids.values())) == ITEMS
        index_numbers = []
        for pub_id in ids.values():
            done = client.wait_for(pub_id, "delivered", timeout=120)
            delivered = [e for e in done["timeline"] if e["channel"] == "portal" and e["status"] == "delivered"]
            assert len(delivered) == 1, done["timeline"]
            index_numbers.append(done["index_no"])
        assert len(set(index_numbers)) == ITEMS  # no 索引号 twice

        entries = index_entries(f"{process.url}/portal/index.json")
        assert Counter(e["id"] for e in entries) == Counter(ids.values())  # each once, and nothing the API cannot find
        assert len(list((tmp_path / "data" / "portal").rglob("pub_*.html"))) == ITEMS
        listed = requests.get(f"{process.url}/v1/publications", params={"per_page": 1},
                              headers={"Authorization": f"Bearer {client.token}"}, timeout=10).json()
        assert listed["total"] == ITEMS
    finally:
        process.stop()
