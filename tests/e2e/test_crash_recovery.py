"""kill -9 in the middle of a batch: every accepted publication ends delivered exactly once."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from govcast.samples import DEMO_DEPARTMENT, sample_policy
from tests.conftest import Client, GovcastProcess
from tests.e2e.portal_html import feed_links, index_entries, sitemap_urls

BATCH = 200


def payload(i: int) -> dict:  # type: ignore[type-arg]
    # The portal only: 200 posts in seconds would (rightly) hit Weibo's and WeChat's rate limits,
    # which is not what this test is about.
    return sample_policy(title=f"崩溃恢复测试通知第{i + 1}号", channels=["portal"])


@pytest.mark.slow
def test_sigkill_mid_batch_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    # The coalescing refresher as in production (site-wide pages owed at the kill are written after the restart).
    process = GovcastProcess(tmp_path / "data", env={"GOVCAST_PORTAL_REFRESH_SECONDS": "0.5"}).start()
    client = Client(process.url, process.token("department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"]))
    keys = [str(uuid.uuid4()) for _ in range(BATCH)]
    accepted: dict[str, str] = {}  # idempotency key -> publication id
    lock = threading.Lock()
    killed = threading.Event()

    def submit(i: int) -> None:
        try:
            response = client.submit(payload(i), key=keys[i])
        except requests.ConnectionError:
            return  # the server died under us: like a real client, we will retry with the same key
        if response.status_code == 202:
            with lock:
                accepted[keys[i]] = response.json()["id"]
                if len(accepted) >= BATCH * 2 // 5 and not killed.is_set():
                    killed.set()
                    process.kill9()

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(submit, range(BATCH)))
        assert killed.is_set(), "the batch finished before the kill; the test proves nothing"
        accepted_before_kill = dict(accepted)
        assert 0 < len(accepted_before_kill) < BATCH

        process.start()  # same data dir, same port
        for i, key in enumerate(keys):  # the client retries whatever it has no answer for
            response = client.submit(payload(i), key=key)
            assert response.status_code == 202, response.text
            if key in accepted_before_kill:
                assert response.json()["id"] == accepted_before_kill[key]  # a replay, not a second publication
            accepted[key] = response.json()["id"]

        ids = set(accepted.values())
        assert len(ids) == BATCH
        for pub_id in ids:
            done = client.wait_for(pub_id, "delivered", timeout=120)
            delivered = [e for e in done["timeline"] if e["channel"] == "portal" and e["status"] == "delivered"]
            assert len(delivered) == 1, done["timeline"]

        deadline = time.monotonic() + 30  # the last refresh comes up to 0.5 s after the last delivery
        while len(entries := index_entries(f"{process.url}/portal/index.json")) < BATCH and time.monotonic() < deadline:
            time.sleep(0.2)
        assert Counter(e["id"] for e in entries) == Counter(ids)  # each exactly once
        pages = list((tmp_path / "data" / "portal").rglob("pub_*.html"))
        assert len(pages) == BATCH
        urls = sitemap_urls(f"{process.url}/portal/sitemap.xml")
        assert len(urls) == len(set(urls))
        assert sum(1 for u in urls if "/pub_" in u) == BATCH
        feed = feed_links(f"{process.url}/portal/feed.xml")
        assert len(feed) == len(set(feed)) > 0
        listed = requests.get(f"{process.url}/v1/publications", params={"status": "delivered", "per_page": 1},
                              headers={"Authorization": f"Bearer {client.token}"}, timeout=10).json()
        assert listed["total"] == BATCH
    finally:
        process.stop()
