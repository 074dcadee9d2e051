"""Carried commits: with the embedded log in the store's file, a consumer's commit (its outputs and offset) runs in
the group-commit writer's next batch, in a savepoint of its own, instead of a write transaction between batches."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection

from persistence import writer_turn
from persistence.group_commit import GroupCommitter
from persistence.store import StatusStore
from processors.bus import BusUnavailable, Outbound
from processors.embedded.log import Record, SqliteLog, partition_for
from processors.outbox import OutboxRelay, carry_log_commits, enqueue
from schemas.events import new_event
from tests.processors.test_embedded_log import read_all


def msg(topic: str, key: str, n: int) -> Outbound:
    return Outbound(topic, key, new_event("test.event", "/test", key, {"n": n}))


class Counting:
    """A group-commit writer over `store` that counts its batches (its after-commit hook)."""

    def __init__(self, store: StatusStore, log: SqliteLog) -> None:
        relay = OutboxRelay(store, log)
        self.batches = 0

        def after() -> None:
            self.batches += 1
            relay.after_commit()

        self.writer = GroupCommitter(store, after_commit=after)


@pytest.fixture
def carried(tmp_path: Path) -> tuple[StatusStore, SqliteLog, Counting]:
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    log = SqliteLog(tmp_path / "status.db", turn=writer_turn.of(store.engine))
    counting = Counting(store, log)
    carry_log_commits(store, log, counting.writer.run_unflushed)
    yield store, log, counting
    counting.writer.close()


def _queued(writer: GroupCommitter, n: int) -> None:
    """Wait until `n` units queue behind the batch the writer is in."""
    for _ in range(5000):
        if writer._queue.qsize() >= n:
            return
        threading.Event().wait(0.001)
    raise AssertionError(f"{writer._queue.qsize()} units queued, not {n}")


def _input(log: SqliteLog, n: int = 1) -> Record:
    log.ensure_topic("out")  # created before a test holds the write lock (a topic is made on the log's own connection)
    log.send([msg("in", "k", i) for i in range(n)])
    return log.fetch("g", "in", partition_for("k", log.ensure_topic("in")))[-1]


def _blocking(started: threading.Event, go: threading.Event) -> Callable[[Connection], str]:
    def unit(conn: Connection) -> str:
        started.set()
        go.wait(5)
        return "first"
    return unit


def test_a_consumer_commit_rides_in_the_next_batch_beside_submissions_and_a_failing_one(
        carried: tuple[StatusStore, SqliteLog, Counting]) -> None:
    store, log, counting = carried
    record = _input(log)
    woken: list[tuple[str, frozenset[int] | None]] = []
    log.add_listener(lambda topic, partitions: woken.append((topic, partitions)))
    started, go = threading.Event(), threading.Event()
    first = counting.writer.submit(_blocking(started, go))
    assert started.wait(5)  # the writer is in a batch: what comes now queues for the next one

    def failing(conn: Connection) -> None:
        enqueue(conn, [msg("out", "x", 99)])
        raise ValueError("a refused submission")

    def kept(conn: Connection) -> str:
        enqueue(conn, [msg("out", "y", 1)])
        return "kept"

    refused, accepted = counting.writer.submit(failing), counting.writer.submit(kept)
    committing = threading.Thread(target=log.commit, args=("g", record, [msg("out", "z", 2)]))
    committing.start()
    _queued(counting.writer, 3)  # the consumer's commit queued behind the two submissions
    go.set()
    committing.join(10)
    assert first.result(5) == "first" and accepted.result(5) == "kept"
    with pytest.raises(ValueError):
        refused.result(5)
    assert counting.batches == 2  # the blocker's, then one for both submissions and the consumer's commit
    assert log.committed("g", "in", record.partition) == record.offset + 1
    assert sorted(n for _, _, n in read_all(log, "reader", "out")) == [1, 2]  # not the refused one's 99
    assert ("out", frozenset({partition_for("z", log.ensure_topic("out"))})) in woken  # its consumers woken


def test_a_failing_consumer_commit_does_not_take_the_batch_down(carried: tuple[StatusStore, SqliteLog, Counting]) -> None:
    store, log, counting = carried
    log.ensure_topic("out")
    started, go = threading.Event(), threading.Event()
    counting.writer.submit(_blocking(started, go))
    assert started.wait(5)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    def kept(conn: Connection) -> str:
        enqueue(conn, [msg("out", "y", 1)])
        return "kept"

    accepted = counting.writer.submit(kept)
    failed: list[BaseException] = []

    def carry_broken() -> None:
        try:
            log._carrier(broken)  # type: ignore[misc]  # what a consumer's commit hands the writer, made to fail
        except BaseException as exc:
            failed.append(exc)

    carrying = threading.Thread(target=carry_broken)
    carrying.start()
    _queued(counting.writer, 2)
    go.set()
    carrying.join(10)
    assert accepted.result(5) == "kept" and [n for _, _, n in read_all(log, "reader", "out")] == [1]
    assert len(failed) == 1 and isinstance(failed[0], BusUnavailable)  # the host redoes it from its input
    assert counting.batches == 2


def test_consumer_commits_alone_are_not_fsynced_beside_a_submission_they_are(
        carried: tuple[StatusStore, SqliteLog, Counting]) -> None:
    store, log, counting = carried
    synchronous: list[int] = []

    def probe(conn: sqlite3.Connection) -> dict[str, set[int]]:
        synchronous.append(conn.execute("PRAGMA synchronous").fetchone()[0])
        return {}

    assert log._carrier is not None
    log._carrier(probe)  # alone in its batch
    started, go = threading.Event(), threading.Event()
    counting.writer.submit(_blocking(started, go))
    assert started.wait(5)
    submission = counting.writer.submit(lambda conn: "submitted")
    carrying = threading.Thread(target=log._carrier, args=(probe,))
    carrying.start()
    _queued(counting.writer, 2)
    go.set()
    carrying.join(10)
    assert submission.result(5) == "submitted"
    assert synchronous == [1, 2]  # NORMAL alone (as the log's own commit), FULL with the submission
    with store.transaction() as conn:  # the writer's connection is FULL again for what comes next
        assert conn.connection.dbapi_connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # type: ignore[union-attr]


def test_a_log_in_another_file_is_not_carried(tmp_path: Path) -> None:
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    log = SqliteLog(tmp_path / "bus.db")
    writer = GroupCommitter(store)
    detach = carry_log_commits(store, log, writer.run_unflushed)
    assert log._carrier is None
    detach()


def test_detaching_leaves_a_later_carrier_in_place(carried: tuple[StatusStore, SqliteLog, Counting]) -> None:
    store, log, counting = carried
    other = GroupCommitter(store)
    detach = carry_log_commits(store, log, other.run_unflushed)
    newest = log._carrier
    detach()
    assert log._carrier is None
    carry_log_commits(store, log, counting.writer.run_unflushed)
    detach()  # already detached: the carrier set since stays
    assert log._carrier is not None and log._carrier is not newest
    record = _input(log)
    log.commit("g", record, [])
    assert log.committed("g", "in", record.partition) == record.offset + 1
    other.close()
