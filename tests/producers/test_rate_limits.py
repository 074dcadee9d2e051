"""Per-token rate limits over the API: a 2,000-request burst from one token meets 429 + Retry-After, others go on."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from govcast.samples import OTHER_DEPARTMENT
from persistence.store import StatusStore
from producers.api import create_app
from producers.auth import new_token

RATE, BURST = 5.0, 50  # low enough that a slow, loaded machine still out-runs the refill


def test_a_burst_from_one_token_is_limited_across_api_processes_and_others_are_served(settings, store, bus, dept, problem):
    limited = settings.model_copy(update={"rate_limit_per_second": RATE, "rate_limit_burst": BURST})
    calm = {"Authorization": "Bearer " + new_token(store, "department", OTHER_DEPARTMENT["name"],
                                                   OTHER_DEPARTMENT["publisher_code"])}
    second_store = StatusStore(store.url)  # a second API process on the same store
    try:
        with TestClient(create_app(limited, store, bus)) as node_a, TestClient(create_app(limited, second_store, bus)) as node_b:
            nodes = (node_a, node_b)
            statuses: list[int] = []
            refusals = []
            lock = threading.Lock()

            def hammer(i: int) -> None:
                response = nodes[i % 2].get("/v1/publications?per_page=1", headers=dept)
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 429 and len(refusals) < 5:
                        refusals.append(response)

            calm_statuses: list[int] = []

            def calm_client() -> None:
                for i in range(20):
                    calm_statuses.append(nodes[i % 2].get("/v1/publications?per_page=1", headers=calm).status_code)
                    time.sleep(0.05)

            started = time.monotonic()
            other = threading.Thread(target=calm_client)
            other.start()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(hammer, range(2000)))
            elapsed = time.monotonic() - started
            other.join()

            assert set(statuses) == {200, 429} and len(statuses) == 2000
            # across both processes: the burst plus what the sustained rate refilled, not twice that
            assert statuses.count(200) <= BURST + RATE * elapsed + 5, (statuses.count(200), elapsed)
            assert statuses.count(429) >= 2000 - (BURST + RATE * elapsed + 5)
            for refused in refusals:
                body = problem(refused, 429)
                assert body["type"] == "urn:govcast:problem:rate-limited" and "requests a second" in body["detail"]
                assert int(refused.headers["retry-after"]) >= 1
            assert calm_statuses == [200] * 20  # the other token was served normally throughout
    finally:
        second_store.close()


def test_limits_can_be_switched_off(settings, store, bus, dept):
    off = settings.model_copy(update={"rate_limit_per_second": 0.0, "rate_limit_burst": 1})
    with TestClient(create_app(off, store, bus)) as client:
        assert {client.get("/v1/publications?per_page=1", headers=dept).status_code for _ in range(30)} == {200}
