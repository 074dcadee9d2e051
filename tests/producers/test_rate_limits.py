"""Per-token rate limits over the API: a 2,000-request burst from one token meets 429 + Retry-After, others go on."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from govcast.samples import OTHER_DEPARTMENT, sample_policy
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


GUESS_BURST = 5  # invalid tokens one address may send at once; then one every 10 s (6 a minute)


def guessing(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"auth_failures_per_minute": 6.0, "auth_failures_burst": GUESS_BURST})


def test_guessing_tokens_from_one_address_meets_429_and_a_right_guess_is_not_confirmed(settings, store, bus, dept, problem):
    second_store = StatusStore(store.url)  # a second API process on the same store
    try:
        app_a, app_b = create_app(guessing(settings), store, bus), create_app(guessing(settings), second_store, bus)
        with (TestClient(app_a, client=("203.0.113.7", 4000)) as guesser,
              TestClient(app_b, client=("203.0.113.7", 4001)) as same_address_other_node,
              TestClient(app_a, client=("198.51.100.9", 4000)) as someone_else):
            def guess(i: int):  # type: ignore[no-untyped-def]
                node, bad = (guesser if i % 2 else same_address_other_node), {"Authorization": f"Bearer gct_guess{i}"}
                if i % 3 == 0:  # the submit route too
                    return node.post("/v1/publications", json=sample_policy(), headers=bad)
                return node.get("/v1/publications", headers=bad)

            answers = [guess(i) for i in range(GUESS_BURST + 3)]
            # the allowance is shared by both processes: the burst, then 429 on either node
            assert [a.status_code for a in answers] == [401] * GUESS_BURST + [429] * 3
            refused = problem(answers[-1], 429)
            assert refused["type"] == "urn:govcast:problem:rate-limited" and "invalid tokens" in refused["detail"]
            assert int(answers[-1].headers["retry-after"]) >= 1
            # while blocked the address's tokens are not read: a right guess looks like a wrong one
            assert guesser.get("/v1/publications", headers=dept).status_code == 429
            # ... also for submissions, whose principals a process caches once the token was seen live
            assert someone_else.post("/v1/publications", headers=dept, json=sample_policy()).status_code == 202
            assert guesser.post("/v1/publications", headers=dept, json=sample_policy()).status_code == 429
            # other addresses are not affected, with a valid token or a wrong one
            assert someone_else.get("/v1/publications?per_page=1", headers=dept).status_code == 200
            assert someone_else.get("/v1/publications", headers={"Authorization": "Bearer gct_typo"}).status_code == 401
    finally:
        second_store.close()


def test_valid_tokens_never_spend_the_guess_allowance(settings, store, bus, dept):
    with TestClient(create_app(guessing(settings), store, bus)) as client:
        assert {client.get("/v1/publications?per_page=1", headers=dept).status_code for _ in range(3 * GUESS_BURST)} == {200}
        assert client.get("/v1/publications", headers={"Authorization": "Bearer gct_typo"}).status_code == 401


def test_the_console_login_counts_guesses_with_the_api(settings, store, bus):
    with TestClient(create_app(guessing(settings), store, bus)) as client:
        statuses = []
        for i in range(GUESS_BURST + 1):
            form = client.get("/console/login")
            csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
            statuses.append(client.post("/console/login", data={"token": f"gct_guess{i}", "csrf": csrf},
                                        follow_redirects=False).status_code)
        assert statuses == [401] * GUESS_BURST + [429]
        blocked = client.post("/v1/publications/pub_x/retract", json={"reason": "试试"},
                              headers={"Authorization": "Bearer gct_another"})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
