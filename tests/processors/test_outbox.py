"""The transactional outbox: rows commit with the caller's transaction, the relay moves them in order, repeats are dropped."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from persistence.group_commit import GroupCommitter
from persistence.store import StatusStore
from processors.bus import Outbound
from processors.embedded.log import SqliteLog
from processors.outbox import OutboxRelay, enqueue, pending
from schemas.events import new_event
from tests.processors.test_embedded_log import read_all
from tests.store_backends import backend_url


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


class SlowBroker:
    """TEST DOUBLE of a bus whose acknowledgement takes until `release` is set (Kafka with acks=all, loaded)."""

    def __init__(self) -> None:
        self.sending, self.release = threading.Event(), threading.Event()
        self.sent: list[Outbound] = []

    def send(self, messages: list[Outbound]) -> None:
        self.sending.set()
        assert self.release.wait(10)
        self.sent += messages


@pytest.mark.postgres
def test_on_postgresql_a_slow_broker_holds_up_neither_commits_nor_the_database(tmp_path: Path) -> None:
    # PostgreSQL only: SQLite relays to the embedded log in the committing thread (a local append).
    with backend_url("postgres", tmp_path) as url:
        store = StatusStore(url)
        try:
            _slow_broker_case(store)
        finally:
            store.close()


def _slow_broker_case(store: StatusStore) -> None:
    broker = SlowBroker()
    relay = OutboxRelay(store, broker)
    writer = GroupCommitter(store, after_commit=relay.after_commit)
    try:
        writer.run(lambda conn: enqueue(conn, [msg("a", 1)]))  # answered: the relay thread now waits for the broker
        assert broker.sending.wait(10)
        writer.run(lambda conn: enqueue(conn, [msg("a", 2)]))  # commits while the first message is unacknowledged
        with store.engine.connect() as conn:
            states = conn.execute(text("SELECT state FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")).all()
        assert states == []  # the relay keeps no transaction (nor its row locks) open across the send
        broker.release.set()
        deadline = time.monotonic() + 10
        while pending(store) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [m.event.data["n"] for m in broker.sent] == [1, 2]  # in commit order, each once
        assert pending(store) == 0
    finally:
        broker.release.set()
        writer.close()
        relay.stop()
