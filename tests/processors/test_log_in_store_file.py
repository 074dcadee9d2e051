"""One node, one SQLite file: the embedded log lives in the status store's file and a submission's event is
appended in the transaction that keeps its store rows (no outbox row, no relay); a two-file data dir is merged."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection

from govcast.runtime import make_bus
from persistence import writer_turn
from persistence.engine import unflushed_transaction
from persistence.group_commit import GroupCommitter
from persistence.store import StatusStore
from processors.bus import Outbound
from processors.embedded.log import SqliteLog, partition_for
from processors.outbox import OutboxRelay, enqueue, pending
from schemas.events import new_event
from settings import Settings
from tests.processors.test_embedded_log import read_all


def msg(key: str, n: int) -> Outbound:
    return Outbound("t", key, new_event("test.event", "/test", key, {"n": n}))


@pytest.fixture
def one_file(tmp_path: Path) -> tuple[StatusStore, SqliteLog]:
    store = StatusStore(f"sqlite:///{tmp_path / 'status.db'}")
    return store, SqliteLog(tmp_path / "status.db", turn=writer_turn.of(store.engine))


def test_the_event_commits_with_the_store_rows_and_needs_no_relay(one_file: tuple[StatusStore, SqliteLog]) -> None:
    store, log = one_file
    relay = OutboxRelay(store, log)
    woken: list[tuple[str, frozenset[int] | None]] = []
    log.add_listener(lambda topic, partitions: woken.append((topic, partitions)))
    with pytest.raises(RuntimeError), store.transaction() as conn:
        enqueue(conn, [msg("a", 1)])
        raise RuntimeError("the request failed after writing its message")
    with store.transaction() as conn:
        enqueue(conn, [msg("a", 2)])
        assert woken == []  # not before the commit: a consumer would fetch nothing yet
    relay.after_commit()
    assert [n for _, _, n in read_all(log, "g", "t")] == [2]  # on the log without any drain
    assert pending(store) == 0 and relay.drain() == 0  # nothing went through the outbox
    assert woken == [("t", frozenset({partition_for("a", log.ensure_topic("t"))}))]  # only the partition appended to


def test_a_group_commit_batch_appends_the_events_of_its_kept_units_in_order(one_file: tuple[StatusStore, SqliteLog]) -> None:
    store, log = one_file
    relay = OutboxRelay(store, log)
    writer = GroupCommitter(store, after_commit=relay.after_commit)
    go = threading.Event()

    def unit(n: int) -> Callable[[Connection], int]:
        def run(conn: Connection) -> int:
            go.wait(5)
            enqueue(conn, [msg("k", n)])
            if n == 3:
                raise ValueError("this submission is refused: its event must not reach the log")
            return n
        return run

    futures = [writer.submit(unit(n), order=f"{n:02d}") for n in range(8)]
    go.set()
    results = []
    for future in futures:
        with contextlib.suppress(ValueError):
            results.append(future.result(timeout=10))
    writer.close()
    assert results == [0, 1, 2, 4, 5, 6, 7]
    assert [n for _, _, n in read_all(log, "g", "t")] == results


def test_a_two_file_data_dir_is_merged_into_the_store_file_and_its_outbox_still_relayed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    old = SqliteLog(settings.legacy_log_path, default_partitions=1)
    old.send([msg("a", n) for n in range(3)])
    first = old.fetch("g", "t", 0)[0]
    old.commit("g", first, [])  # the pipeline had consumed message 0
    old.close()
    store = StatusStore(settings.store)
    with store.transaction() as conn:  # committed by the old version (no relay built yet), not relayed before it stopped
        enqueue(conn, [msg("a", 3)])

    log = make_bus(settings, store)
    assert isinstance(log, SqliteLog) and log.path == tmp_path / "status.db"
    assert not settings.legacy_log_path.exists() and (tmp_path / "bus.db.merged").exists()
    assert [r.event.data["n"] for r in log.fetch("g", "t", 0)] == [1, 2]  # the consumer's offset came along
    assert OutboxRelay(store, log).drain() == 1
    assert [r.event.data["n"] for r in log.fetch("g", "t", 0)] == [1, 2, 3]
    assert not make_bus(settings, store).absorb(settings.legacy_log_path)  # merged once only
    store.close()


def test_the_status_projection_commits_unflushed_only_beside_the_log_and_leaves_other_writers_flushed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = StatusStore(settings.store)
    assert store.flush_projection  # alone (or beside a log in another file) every commit is flushed
    make_bus(settings, store)
    assert not store.flush_projection

    def synchronous(conn: Connection) -> int:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

    with unflushed_transaction(store.engine) as conn:
        assert synchronous(conn) == 1  # NORMAL: no fsync at this commit
    for _ in range(3):  # the pooled connection went back FULL: a 202's commit is flushed
        with store.transaction() as conn:
            assert synchronous(conn) == 2
    store.close()
