"""Group commit: concurrent requests share one store transaction, so durability costs one flush per batch.

Each request hands its unit of work (a function of the open connection) to one writer
thread and waits. The writer takes everything queued, runs each unit in its own savepoint
of ONE transaction -- a unit that fails (409, 422, a lost race) rolls back alone -- and
commits once. At low load a batch is one request, so latency stays what it was; under
load requests queued during one commit go together in the next.

On PostgreSQL several API processes each run a writer. Units are ordered by a caller-given
key inside a batch (the department, whose 索引号 counter row a submit locks), so two
batches lock shared rows in the same order instead of deadlocking.

Units may remember things for the rest of their batch in `persistence.engine.batch_memo(conn)`;
a unit that fails empties it, since its savepoint's rollback may have undone what was remembered.
Units may also queue rows for the end of the batch (`persistence.engine.at_batch_end`: the audit
chain, the outbox): written once for the whole batch right before the commit, only for the units
that succeeded, so a lock shared by every process (the audit chain's) is held for a few statements.

A *staged* unit (`run_staged`, `run_staged_async`) is a prepare step that returns its finish step:
the writer runs the prepare steps of the whole batch first (they only read: no savepoint), then the
finish steps, each in its own savepoint. Submissions check and normalize in the prepare step and take the department's 索引号
counter row in the finish step, so that row stays locked from the first finish to the commit only,
not while the batch's other requests are checked and normalized (another API process waits on it). On
PostgreSQL most submissions take it later still, in the batch's first end-of-batch flush (producers.numbering).

A unit may name the principal (token id) it acts for when its caller took that principal
from a cache instead of the store: the writer then asks `dead_principals` once per batch,
inside the batch's transaction, which of those tokens are no longer live, and refuses their
units (`refusal()`) without running them. A revocation committed before the batch is seen,
by every process, as if the token had been looked up in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from persistence.engine import close_batch_memo, flush_batch_writes, open_batch_memo, start_unit_writes, stop_unit_writes
from persistence.faults import kill_point
from persistence.store import StatusStore

log = logging.getLogger("govcast.store")

T = TypeVar("T")
MAX_BATCH = 256
GATHER_SECONDS = 0.005  # the longest a writer with `gather` waits for the units a batch may expect (`_gather`)
_GATHER_STEP = 0.0005
PrincipalCheck = Callable[[Connection, set[str]], set[str]]  # token ids -> those no longer live


@dataclass(frozen=True)
class Unsaved(Generic[T]):
    """A finish step run without a savepoint: it writes only through `at_batch_end`, and its statements (e.g. a
    counter's UPDATE) fail only as the database fails -- which fails the batch. Two round trips fewer, inside
    the part of the batch that holds shared rows."""

    step: Callable[[Connection], T]


Staged = Callable[[Connection], Callable[[Connection], T] | Unsaved[T]]  # prepare step -> its finish step


@dataclass
class _Item(Generic[T]):
    unit: Callable[[Connection], Any]  # staged: returns the finish step
    order: str
    principal: str | None = None
    staged: bool = False
    future: Future[T] = field(default_factory=Future)
    waiter: asyncio.Future[T] | None = None  # set for `run_async`: answered on its event loop instead of `future`


class GroupCommitter:
    """Runs units of work in shared transactions on one writer thread (started on first use)."""

    def __init__(self, store: StatusStore, *, after_commit: Callable[[], None] | None = None,
                 max_batch: int = MAX_BATCH, dead_principals: PrincipalCheck | None = None,
                 refusal: Callable[[], Exception] = lambda: PermissionError("the token is no longer valid"),
                 gather: float = 0.0) -> None:
        self.store = store
        self.after_commit = after_commit or (lambda: None)
        self.max_batch = max_batch
        self.gather = gather  # seconds a batch may wait for as many units as the last one had (see `_loop`)
        self.dead_principals = dead_principals
        self.refusal = refusal
        self._queue: queue.SimpleQueue[_Item[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def run(self, unit: Callable[[Connection], T], *, order: str = "", principal: str | None = None) -> T:
        """Run `unit` inside a shared transaction; its result once that transaction committed.

        Raises what `unit` raised (its writes rolled back, the batch's others kept), or the
        commit's error (nothing of the batch kept).
        """
        return self.submit(unit, order=order, principal=principal).result()

    def run_staged(self, prepare: Staged[T], *, order: str = "", principal: str | None = None) -> T:
        """`run` for a staged unit: `prepare(conn)` returns the finish step, run after every prepare step of the batch."""
        return self._enqueue(_Item(prepare, order, principal, staged=True)).result()

    def submit(self, unit: Callable[[Connection], T], *, order: str = "", principal: str | None = None) -> Future[T]:
        """`run` without waiting: the future of its result.

        `principal`: the token id `unit` acts for, to be checked live in the batch's transaction."""
        return self._enqueue(_Item(unit, order, principal))

    async def run_async(self, unit: Callable[[Connection], T], *, order: str = "", principal: str | None = None) -> T:
        """`run` for coroutines: no thread waits, and the writer answers all of a batch's waiters on one event
        loop with one wake-up of that loop (not one cross-thread callback per request)."""
        return await self._enqueue_async(_Item(unit, order, principal))

    async def run_staged_async(self, prepare: Staged[T], *, order: str = "", principal: str | None = None) -> T:
        """`run_staged` for coroutines (as `run_async`)."""
        return await self._enqueue_async(_Item(prepare, order, principal, staged=True))

    def _enqueue(self, item: _Item[T]) -> Future[T]:
        self._ensure_started()
        self._queue.put(item)
        return item.future

    async def _enqueue_async(self, item: _Item[T]) -> T:
        item.waiter = asyncio.get_running_loop().create_future()
        self._ensure_started()
        self._queue.put(item)
        return await item.waiter

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="group-commit", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        expected = 0  # units the next batch may expect: the last batch's and those that queued during its commit
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = self._take(batch)
            if not stopping and self.gather and len(batch) < expected:
                stopping = self._gather(batch, min(expected, self.max_batch))
            self._commit(sorted(batch, key=lambda i: i.order))
            expected = len(batch) + self._queue.qsize()

    def _take(self, batch: list[_Item[Any]]) -> bool:
        """Add what is queued to `batch` (up to max_batch); True when a stop was queued."""
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                self._queue.put(None)  # stop after this batch
                return True
            batch.append(item)
        return False

    def _gather(self, batch: list[_Item[Any]], expected: int) -> bool:
        """Concurrent requests: wait up to `gather` seconds until the batch has the units it may expect -- those of the
        last batch (answered, they come back) and those that queued while it committed. Without it, half the clients
        of a process queue while the other half commit, and the batches stay half as big as they could be, each with
        the same statements and round trips; or the stragglers of a batch (the event loop parses requests one after
        the other) commit in a batch of their own. At one client (batches of one) nobody waits; when the load drops,
        one batch waits `gather` and the next ones no longer do. True when a stop was queued."""
        deadline = time.monotonic() + self.gather
        while len(batch) < expected and time.monotonic() < deadline:
            time.sleep(_GATHER_STEP)  # the GIL is free: the event loop finishes the requests it is parsing
            if self._take(batch):
                return True
        return False

    def _commit(self, batch: list[_Item[Any]]) -> None:
        outcomes: list[tuple[_Item[Any], Any, BaseException | None]] = []
        try:
            with self.store.transaction() as conn:
                memo = open_batch_memo(conn)  # what units remember for the rest of the batch
                queued: list[Any] = []  # rows for the end of the batch (at_batch_end) of the units that succeeded
                try:
                    dead = self._dead(conn, batch)
                    finishing: list[tuple[_Item[Any], Any, list[Any]]] = []  # (item, its finish step, its queued rows)
                    for item in batch:
                        if item.principal in dead:
                            outcomes.append((item, None, self.refusal()))
                            continue
                        result, error, writes = self._step(conn, item.unit, memo, savepoint=not item.staged)
                        if item.staged and error is None:
                            finishing.append((item, result, writes))
                            continue
                        outcomes.append((item, result, error))
                        queued.extend(writes)
                    for item, finish, prepared in finishing:  # shared rows (索引号 counters) are locked from here on
                        if isinstance(finish, Unsaved):
                            result, error, writes = self._step(conn, finish.step, memo, savepoint=False)
                        else:
                            result, error, writes = self._step(conn, finish, memo)
                        outcomes.append((item, result, error))
                        if error is None:
                            queued.extend(prepared + writes)
                    flush_batch_writes(conn, queued)
                finally:
                    close_batch_memo(conn)
                kill_point("commit:inside")
        except Exception as exc:  # the transaction itself failed (disk full, database gone): nothing was kept
            self._answer([(item, None, exc) for item in batch])
            return
        kill_point("commit:after")
        try:
            self.after_commit()
        except Exception:
            log.exception("after-commit hook failed")  # the batch is committed: its answers stand
        self._answer(outcomes)

    @staticmethod
    def _step(conn: Connection, step: Callable[[Connection], Any], memo: dict[str, Any], *,
              savepoint: bool = True) -> tuple[Any, BaseException | None, list[Any]]:
        """One unit (or one stage of one) in its own savepoint: (result, error, the rows it queued for the end of
        the batch). A step that raised queued nothing: its rows are never written.

        `savepoint=False` for the prepare step of a staged unit, which only reads, and for `Unsaved` finish steps
        (two round trips saved per request each): their error leaves nothing to undo, except a database error,
        which fails the whole batch (the transaction may be aborted) -- every request of the batch is answered
        as if the commit had failed."""
        writes = start_unit_writes(conn)
        try:
            if savepoint:
                with conn.begin_nested():
                    result = step(conn)
            else:
                result = step(conn)
        except Exception as exc:
            if not savepoint and isinstance(exc, DBAPIError):
                raise
            memo.clear()  # its savepoint rolled back: what units remembered may be gone too
            return None, exc, []
        finally:
            stop_unit_writes(conn)
        return result, None, writes

    def _dead(self, conn: Connection, batch: list[_Item[Any]]) -> set[str | None]:
        checked = {item.principal for item in batch if item.principal is not None}
        if not checked or self.dead_principals is None:
            return set()
        return set(self.dead_principals(conn, checked))

    @staticmethod
    def _answer(outcomes: list[tuple[_Item[Any], Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Item[Any], Any, BaseException | None]]] = {}
        for outcome in outcomes:
            item, result, error = outcome
            if item.waiter is not None:
                by_loop.setdefault(item.waiter.get_loop(), []).append(outcome)
            elif error is None:
                item.future.set_result(result)
            else:
                item.future.set_exception(error)
        for loop, answers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[tuple[_Item[Any], Any, BaseException | None]]) -> None:
    """On the waiters' event loop: answer every waiter of a batch."""
    for item, result, error in answers:
        waiter = item.waiter
        if waiter is None or waiter.done():  # the request was cancelled (client gone): its commit stands
            continue
        if error is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(error)
