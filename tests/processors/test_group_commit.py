"""Group commit: requests queued while a transaction runs share the next one; a failing request rolls back alone."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, event, func, insert, select
from sqlalchemy.exc import DBAPIError

from persistence import audit, engine
from persistence.engine import at_batch_end
from persistence.group_commit import GroupCommitter, Unsaved
from persistence.store import StatusStore, utcnow
from persistence.tables import outbox
from processors.bus import Outbound
from processors.outbox import enqueue
from schemas.events import new_event
from tests.store_backends import BACKENDS


def row(n: int) -> Outbound:
    return Outbound("t", f"k{n}", new_event("test.event", "/test", f"k{n}", {"n": n}))


def kept(store: StatusStore) -> set[str]:
    with store.engine.connect() as conn:
        return {r.key for r in conn.execute(select(outbox.c.key))}


def test_requests_queued_during_a_commit_share_the_next_one_and_failures_stay_alone(store: StatusStore) -> None:
    commits = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    writer = GroupCommitter(store)
    first_running, release = threading.Event(), threading.Event()

    def slow_first(conn: Connection) -> int:
        first_running.set()
        release.wait(10)
        enqueue(conn, [row(0)])
        return 0

    def unit(n: int):  # type: ignore[no-untyped-def]
        def work(conn: Connection) -> int:
            enqueue(conn, [row(n)])
            if n % 5 == 0:
                raise ValueError(f"request {n} is invalid")  # e.g. a 409: its own row must not be kept
            return n
        return work

    with ThreadPoolExecutor(max_workers=32) as pool:
        first = pool.submit(writer.run, slow_first)
        assert first_running.wait(10)
        commits.clear()
        futures = {n: pool.submit(writer.run, unit(n)) for n in range(1, 31)}
        while writer._queue.qsize() < 30:  # all 30 wait behind the running transaction
            threading.Event().wait(0.01)
        release.set()
        assert first.result() == 0
        for n, future in futures.items():
            if n % 5 == 0:
                with pytest.raises(ValueError, match=f"request {n} is invalid"):
                    future.result()
            else:
                assert future.result() == n
    writer.close()
    assert len(commits) == 2  # the first transaction, then ONE for the 30 that queued behind it
    assert kept(store) == {f"k{n}" for n in range(31) if n == 0 or n % 5}


def test_a_failed_commit_fails_every_request_of_the_batch_and_keeps_nothing(store: StatusStore) -> None:
    writer = GroupCommitter(store)

    def broken_commit(conn: Connection) -> None:
        raise OSError("database or disk is full")

    event.listen(store.engine, "commit", broken_commit)
    with pytest.raises(OSError, match="disk is full"):
        writer.run(lambda conn: enqueue(conn, [row(1)]))
    event.remove(store.engine, "commit", broken_commit)
    writer.run(lambda conn: enqueue(conn, [row(2)]))
    writer.close()
    assert kept(store) == {"k2"}
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 1


def test_a_batch_end_insert_that_fails_fails_the_batch_keeps_nothing_and_the_next_batch_commits(store: StatusStore) -> None:
    """The batch's end writes without waiting for each insert (pipelined on PostgreSQL): an insert the database
    refuses there (here a message with no topic) fails every request of the batch, keeps none of its rows (the
    audit row written after it included), and leaves the connection fit for the next batch."""
    writer = GroupCommitter(store)

    def refused(conn: Connection) -> None:
        enqueue(conn, [Outbound(None, "k1", new_event("test.event", "/test", "k1", {}))])  # type: ignore[arg-type]
        audit.record(conn, None, "test.refused", "t1")

    with pytest.raises(DBAPIError):
        writer.run(refused)
    for n in (2, 3):
        writer.run(lambda conn, n=n: (enqueue(conn, [row(n)]), audit.record(conn, None, "test.kept", f"t{n}")))  # type: ignore[misc]
    writer.close()
    assert kept(store) == {"k2", "k3"}
    verdict = audit.verify(store.engine)
    assert verdict.intact and verdict.entries == 2


@pytest.mark.parametrize("store", [b for b in BACKENDS if b.id == "postgres"], indirect=True)  # pipelining is PostgreSQL's
def test_postgresql_sends_the_plain_batch_end_inserts_together_and_waits_once(store: StatusStore,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: the batch's plain end-of-batch flushes (here the outbox's and a second one) go out pipelined, ending
    in one Sync -- one wait for the server -- instead of one Sync each (counted in libpq's trace of the batch)."""
    assert store.engine.dialect.name == "postgresql"
    def other_flush(conn: Connection, rows: list[dict[str, object]]) -> None:
        conn.execute(insert(outbox).inline(), rows)

    def syncs() -> int:
        writer = GroupCommitter(store)
        with tempfile.TemporaryFile("w+") as trace:
            def unit(conn: Connection) -> None:
                conn.connection.dbapi_connection.pgconn.trace(trace.fileno())  # type: ignore[union-attr]
                enqueue(conn, [row(1)])
                at_batch_end(conn, other_flush, {"topic": "t", "key": "k2", "event": "{}", "created_at": utcnow()})

            try:
                writer.run(unit)
            finally:
                writer.close()
                store.engine.dispose()  # the traced connection goes (with its trace) before the trace file does
            trace.seek(0)
            return trace.read().count("\tSync")

    pipelined = syncs()
    monkeypatch.setattr(engine, "_pipelined", lambda conn: contextlib.nullcontext())
    one_by_one = syncs()
    assert pipelined == one_by_one - 1
    assert kept(store) == {"k1", "k2"}


def test_audit_rows_of_one_batch_chain_up_even_when_a_unit_between_them_rolls_back(store: StatusStore) -> None:
    """The batch reads the chain's head once; a unit that appended and then failed must not leave its hash behind."""
    writer = GroupCommitter(store)
    first_running, release = threading.Event(), threading.Event()

    def slow_first(conn: Connection) -> None:
        first_running.set()
        release.wait(10)
        audit.record(conn, None, "test.first", "t0")

    def unit(n: int):  # type: ignore[no-untyped-def]
        def work(conn: Connection) -> None:
            audit.record(conn, None, "test.unit", f"t{n}")
            if n % 3 == 0:
                raise ValueError(f"request {n} failed after its audit row")

        return work

    with ThreadPoolExecutor(max_workers=16) as pool:
        first = pool.submit(writer.run, slow_first)
        assert first_running.wait(10)
        futures = [pool.submit(writer.run, unit(n)) for n in range(1, 10)]
        while writer._queue.qsize() < 9:  # all nine go into the next batch together
            threading.Event().wait(0.01)
        release.set()
        first.result()
        failed = [n for n, future in enumerate(futures, start=1) if future.exception() is not None]
    writer.close()
    assert failed == [3, 6, 9]
    verdict = audit.verify(store.engine)
    assert verdict.intact, verdict.problems
    assert verdict.entries == 1 + 6
    assert [e["target"] for e in audit.entries(store.engine, audit.AuditFilter())][::-1] == \
        ["t0", "t1", "t2", "t4", "t5", "t7", "t8"]


def test_coroutines_awaiting_one_batch_get_their_own_answers(store: StatusStore) -> None:
    """`run_async`: a batch's waiters on one event loop are answered together, each with its own result or error."""
    writer = GroupCommitter(store)

    def unit(n: int):  # type: ignore[no-untyped-def]
        def work(conn: Connection) -> int:
            enqueue(conn, [row(n)])
            if n % 4 == 0:
                raise ValueError(f"request {n} is invalid")
            return n * 10

        return work

    async def submit_all() -> list[int | BaseException]:
        return await asyncio.gather(*(writer.run_async(unit(n)) for n in range(1, 21)), return_exceptions=True)

    answers = asyncio.run(submit_all())
    writer.close()
    assert [a if isinstance(a, int) else str(a) for a in answers] == [
        f"request {n} is invalid" if n % 4 == 0 else n * 10 for n in range(1, 21)]
    assert kept(store) == {f"k{n}" for n in range(1, 21) if n % 4}


def test_staged_units_prepare_together_then_finish_and_only_finished_units_keep_rows(store: StatusStore) -> None:
    """A batch runs every prepare step before the first finish step (submissions normalize before any 索引号
    counter row is locked); a unit failing in either step keeps nothing, the others keep theirs."""
    writer = GroupCommitter(store)
    steps: list[str] = []
    first_running, release = threading.Event(), threading.Event()

    def slow_first(conn: Connection) -> None:
        first_running.set()
        release.wait(10)

    def staged(n: int):  # type: ignore[no-untyped-def]
        def prepare(conn: Connection):  # type: ignore[no-untyped-def]
            steps.append(f"prepare {n}")
            if n == 2:
                raise ValueError("request 2 is invalid")

            def finish(conn: Connection) -> int:
                steps.append(f"finish {n}")
                enqueue(conn, [row(n)])
                if n == 3:
                    raise ValueError("request 3 failed after queuing its message")
                return n

            return Unsaved(finish) if n % 2 else finish

        return prepare

    with ThreadPoolExecutor(max_workers=8) as pool:
        first = pool.submit(writer.run, slow_first)
        assert first_running.wait(10)
        futures = {n: pool.submit(writer.run_staged, staged(n)) for n in range(1, 6)}
        while writer._queue.qsize() < 5:
            threading.Event().wait(0.01)
        release.set()
        first.result()
        outcomes = {n: (f.exception() and str(f.exception())) or f.result() for n, f in futures.items()}
    writer.close()
    assert outcomes == {1: 1, 2: "request 2 is invalid", 3: "request 3 failed after queuing its message", 4: 4, 5: 5}
    prepares = [s for s in steps if s.startswith("prepare")]
    assert steps[:len(prepares)] == prepares and len(prepares) == 5  # every prepare before the first finish
    assert kept(store) == {"k1", "k4", "k5"}


def test_under_load_a_batch_gathers_the_stragglers_of_the_last_one_and_a_lone_request_never_waits(store: StatusStore) -> None:
    commits = []
    event.listen(store.engine, "commit", lambda conn: commits.append(1))
    writer = GroupCommitter(store, gather=1.0)  # generous: the stragglers below come 50 ms apart
    first_running, release = threading.Event(), threading.Event()

    def slow_first(conn: Connection) -> None:
        first_running.set()
        release.wait(10)

    def unit(n: int):  # type: ignore[no-untyped-def]
        return lambda conn: enqueue(conn, [row(n)])

    with ThreadPoolExecutor(max_workers=8) as pool:
        first = pool.submit(writer.run, slow_first)
        assert first_running.wait(10)
        together = [pool.submit(writer.run, unit(n)) for n in range(4)]
        while writer._queue.qsize() < 4:
            threading.Event().wait(0.01)
        release.set()
        for future in [first, *together]:  # a batch of one (four queued meanwhile), then one of the four
            future.result()
        commits.clear()
        stragglers = []
        for n in range(4, 8):  # as many as the last batch had, arriving one after the other: the first waits for them
            stragglers.append(pool.submit(writer.run, unit(n)))
            threading.Event().wait(0.05)
        for future in stragglers:
            future.result()
        assert len(commits) == 1  # one batch for the four, not one for the first and another for the rest
        commits.clear()
        writer.run(unit(8))  # the load is gone: this batch waits `gather` for the four it expects, and commits alone
        started = time.monotonic()
        for n in range(9, 12):  # then batches of one, which never wait
            writer.run(unit(n))
        assert time.monotonic() - started < 1.0
    writer.close()
    assert kept(store) == {f"k{n}" for n in range(12)}
