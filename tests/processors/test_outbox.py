"""The transactional outbox: rows commit with the caller's transaction, the relay moves them in order, repeats are dropped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from persistence.group_commit import GroupCommitter
from persistence.store import StatusStore
from processors.bus import Outbound
from processors.embedded.log import SqliteLog
from processors.outbox import _RELAY_LOCK, HOLD_SECONDS, OutboxRelay, enqueue, pending
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


class Recording:
    """TEST DOUBLE of a bus that takes every message at once."""

    def __init__(self) -> None:
        self.sent: list[Outbound] = []

    def send(self, messages: list[Outbound]) -> None:
        self.sent += messages


def drain_lock_holders(store: StatusStore) -> int:
    """Sessions holding the outbox drain lock (pg_locks shows a bigint key as its high and low 32 bits)."""
    with store.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = :high AND objid = :low"),
            {"high": _RELAY_LOCK >> 32, "low": _RELAY_LOCK & 0xFFFFFFFF}).scalar_one())


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.postgres
def test_on_postgresql_one_background_relay_keeps_the_drain_lock_while_rows_come_and_lets_it_go_after(tmp_path: Path) -> None:
    with backend_url("postgres", tmp_path) as url:
        store = StatusStore(url)
        bus = Recording()
        relays = [OutboxRelay(store, bus) for _ in range(2)]  # two API processes sharing one outbox
        writers = [GroupCommitter(store, after_commit=relay.after_commit) for relay in relays]
        try:
            for n in range(30):
                writers[n % 2].run(lambda conn, n=n: enqueue(conn, [msg("a", n)]))
            wait_for(lambda: pending(store) == 0)  # every row relayed, whichever process committed it
            assert [m.event.data["n"] for m in bus.sent] == list(range(30))  # in commit order, each once
            assert drain_lock_holders(store) == 1  # kept between drains, by one relay
            wait_for(lambda: drain_lock_holders(store) == 0, seconds=HOLD_SECONDS + 5)  # no rows for a while: let go
            for n in range(30, 33):  # either relay takes it again
                writers[n % 2].run(lambda conn, n=n: enqueue(conn, [msg("a", n)]))
            wait_for(lambda: pending(store) == 0)
            assert [m.event.data["n"] for m in bus.sent] == list(range(33))
        finally:
            for writer in writers:
                writer.close()
            for relay in relays:
                relay.stop()
        assert drain_lock_holders(store) == 0  # a stopped relay holds nothing
        store.close()
