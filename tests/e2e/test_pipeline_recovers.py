"""The embedded log's disk fills up mid-run: readiness goes down, and once space returns the pipeline moves again
by itself (issue 10, defect 2) -- no restart, everything delivered once."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess
from tests.e2e.portal_html import index_entries
from tests.e2e.test_disk_full import fill, small_disk

ITEMS = 30


@pytest.mark.slow
def test_a_full_log_disk_takes_readiness_down_and_the_pipeline_resumes_when_space_returns(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:  # the data dir (log, portal) fills up; the store lives elsewhere
        process = GovcastProcess(disk / "data", env={"GOVCAST_STORE_URL": f"sqlite:///{tmp_path / 'status.db'}"}).start()
        client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
        try:
            first = client.submit(sample_policy(title="磁盘恢复测试：第0号", channels=["portal"])).json()["id"]
            client.wait_for(first, "delivered")

            def submit(i: int) -> str:
                response = client.submit(sample_policy(title=f"磁盘恢复测试：第{i}号", channels=["portal"]))
                assert response.status_code == 202, response.text
                return str(response.json()["id"])

            with ThreadPoolExecutor(max_workers=4) as pool:
                ids = [first, *pool.map(submit, range(1, ITEMS + 1))]
            filler = fill(disk)  # while the pipeline works through the batch

            deadline, answers = time.monotonic() + 30, []
            while time.monotonic() < deadline and 503 not in answers:
                answers.append(requests.get(f"{process.url}/readyz", timeout=5).status_code)
                time.sleep(0.2)
            assert 503 in answers, "no pipeline task failed on the full disk; the test proves nothing"
            readiness = requests.get(f"{process.url}/readyz", timeout=5).json()
            assert "pipeline task" in readiness["detail"]

            filler.unlink()  # space is back; the process is NOT restarted
            for pub_id in ids:
                done = client.wait_for(pub_id, "delivered", timeout=120)
                delivered = [e for e in done["timeline"] if e["channel"] == "portal" and e["status"] == "delivered"]
                assert len(delivered) == 1, done["timeline"]
            deadline = time.monotonic() + 60
            while requests.get(f"{process.url}/readyz", timeout=5).status_code != 200:
                assert time.monotonic() < deadline, "readiness never came back"
                time.sleep(0.5)
            entries = index_entries(f"{process.url}/portal/index.json")
            assert Counter(e["id"] for e in entries) == Counter(ids)
        finally:
            process.stop()
