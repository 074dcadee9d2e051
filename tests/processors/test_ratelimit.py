"""GCRA rate limits in the shared store (SQLite file beside the store, PostgreSQL UNLOGGED table)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from persistence.ratelimit import RateLimiter
from persistence.store import StatusStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def limiter(store: StatusStore, clock: Clock, rate: float = 10.0, burst: int = 5) -> RateLimiter:
    made = RateLimiter.for_store(store.engine, rate, burst)
    made.clock = clock
    return made


def test_a_burst_then_the_sustained_rate(store: StatusStore) -> None:
    clock = Clock()
    limits = limiter(store, clock)
    assert [limits.check("prn_a").allowed for _ in range(7)] == [True] * 5 + [False] * 2
    refused = limits.check("prn_a")
    assert not refused.allowed and refused.retry_after == pytest.approx(0.1, abs=1e-3)
    assert limits.check("prn_b").allowed  # another token has its own allowance
    clock.now += 0.1
    assert limits.check("prn_a").allowed and not limits.check("prn_a").allowed  # one more per 1/rate seconds
    clock.now += 10  # a quiet spell refills the burst, no more
    assert [limits.check("prn_a").allowed for _ in range(6)] == [True] * 5 + [False]


def test_processes_sharing_the_store_share_one_allowance(store: StatusStore) -> None:
    clock = Clock()
    nodes = [limiter(store, clock, rate=1.0, burst=20) for _ in range(3)]  # three API processes
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda i: nodes[i % 3].check("prn_busy").allowed, range(90)))
    assert results.count(True) == 20  # exactly the burst, however the requests were spread
    for node in nodes:
        node.close()
