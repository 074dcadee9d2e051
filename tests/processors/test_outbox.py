"""The transactional outbox: rows commit with the caller's transaction, the relay moves them in order, repeats are dropped."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from persistence.store import StatusStore
from processors.bus import Outbound
from processors.embedded.log import SqliteLog
from processors.outbox import OutboxRelay, enqueue, pending
from schemas.events import new_event
from tests.processors.test_embedded_log import read_all


def msg(key: str, n: int) -> Outbound:
    return Outbound("t", key, new_event("test.event", "/test", key, {"n": n}))


def test_rows_of_a_rolled_back_transaction_never_reach_the_bus(store: StatusStore, tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "bus.db")
    with pytest.raises(RuntimeError), store.transaction() as conn:
        enqueue(conn, [msg("a", 1)])
        raise RuntimeError("the request failed after writing its message")
    with store.transaction() as conn:
        enqueue(conn, [msg("a", 2)])
    assert OutboxRelay(store, log).drain() == 1
    assert [n for _, _, n in read_all(log, "g", "t")] == [2]
    assert pending(store) == 0


def test_a_relay_killed_after_the_bus_append_sends_again_and_the_log_drops_the_repeat(store: StatusStore, tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "bus.db")
    with store.transaction() as conn:
        enqueue(conn, [msg("a", 1), msg("a", 2)])
    relay = OutboxRelay(store, log)
    with store.engine.connect() as conn:
        relay._send(relay._oldest(conn))  # appended, and then the process died before deleting the rows
    assert pending(store) == 2
    assert OutboxRelay(store, log).drain() == 2  # the restarted relay sends them again ...
    assert [n for _, _, n in read_all(log, "g", "t")] == [1, 2]  # ... and the log keeps each once


def test_concurrent_writers_and_relays_keep_the_order_of_each_key(store: StatusStore, tmp_path: Path) -> None:
    log = SqliteLog(tmp_path / "bus.db", default_partitions=2)
    relays = [OutboxRelay(store, log, batch=7) for _ in range(2)]  # two API processes sharing one outbox

    def writer(key: str) -> None:
        for n in range(40):
            with store.transaction() as conn:
                enqueue(conn, [msg(key, n)])
            relays[n % 2].drain()

    threads = [threading.Thread(target=writer, args=(key,)) for key in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    relays[0].drain()
    records = read_all(log, "g", "t")
    for key in ("a", "b", "c"):
        assert [n for _, k, n in records if k == key] == list(range(40))
    assert pending(store) == 0
