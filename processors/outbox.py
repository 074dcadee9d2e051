"""Transactional outbox: a bus message commits with the store rows it announces, then a relay moves it to the bus.

The API never writes to the bus inside a request's transaction (two writes, two decisions: a
crash or a full disk between them published what the client was told was refused). It adds
the message to the `outbox` table in the same store transaction as the publication row, so
both are kept or neither. `OutboxRelay` then appends outbox rows to the bus in sequence order
and deletes them:

- on SQLite (the embedded log, a local append): right after each commit, in the committing
  thread (the message is on the bus before the 202 leaves, when the bus is up);
- on PostgreSQL (Kafka, several API processes): in the relay's own thread, woken by each commit,
  so the group-commit writer never waits for a broker's acknowledgement (a 202 means the message
  is durable in the outbox; the relay puts it on Kafka a few milliseconds later);
- and from that background thread in both cases, which retries with backoff while the bus is
  down and picks up rows a crashed process left behind.

One node, one SQLite file (the embedded log in the store's file, `SqliteLog.append_within`): the outbox
step disappears. `enqueue` appends the messages to the log itself, in the caller's transaction, so the
commit that keeps the store rows keeps the log rows: one fsync, nothing to relay, and a kill -9 at any point
leaves both or neither. `after_commit` then only wakes the pipeline. The relay still drains rows an
older version (or a two-file data dir) left in the outbox.

A relay killed between the bus append and the delete sends those rows again. The embedded
log drops the repeats (`SqliteLog.send_once`, keyed by event id); Kafka consumers are
idempotent per event id. On PostgreSQL, several API processes share one outbox: a relay
drains it only while holding a session-level advisory lock on a connection of its own, so
one relay at a time reads, sends and deletes, and rows of one publication leave in the order
they were committed. Under load the background relay that has the lock keeps it between drains,
looking for rows every few milliseconds, and relays every process's rows; the others leave
it be until it lets the lock go (a second without rows, its process stopping or dying). No
transaction stays open across the send (each statement runs in autocommit: read; send, wait for
the acknowledgement; delete): the rows the relay works on lock nothing the writers need.
A relay that dies holding the lock loses its session, and with it the lock.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select
from tenacity import Retrying, retry_if_exception_type, stop_never, wait_exponential

from persistence.engine import at_batch_end, reading
from persistence.faults import kill_point
from persistence.store import StatusStore, utcnow
from persistence.tables import outbox
from processors.bus import Bus, Outbound
from schemas.events import CloudEvent

log = logging.getLogger("govcast.outbox")

BATCH = 500  # rows per bus send
POLL_SECONDS = 1.0  # background check for rows other processes (or a crash) left
HELD_POLL_SECONDS = 0.02  # PostgreSQL: the relay holding the drain lock looks for other processes' rows this often
HOLD_SECONDS = 1.0  # ... and lets the lock go once it found no rows for this long
_RELAY_LOCK = 0x676F76636173745F  # "govcast_": the advisory lock of the PostgreSQL outbox drain
_ADD = insert(outbox).inline()  # built once: every submission adds a row; inline: no RETURNING of its seq (never read)
_OLDEST = select(outbox).order_by(outbox.c.seq).limit(bindparam("batch"))
_DELETE = delete(outbox).where(outbox.c.seq.in_(bindparam("seqs", expanding=True)))


class _Row(NamedTuple):
    """An outbox row as stored: the event is the JSON text `CloudEvent.to_json` made when it was enqueued."""

    seq: int
    topic: str
    key: str
    event: str


class _LogInStoreFile(Protocol):
    """What of the embedded log (processors.embedded.log.SqliteLog) appending in the store's transaction needs."""

    path: Path

    def append_within(self, conn: sqlite3.Connection, messages: Sequence[Outbound]) -> dict[str, set[int]]: ...

    def notify_appended(self, topic: str, partitions: Iterable[int] | None = None) -> None: ...


class _InlineLog:
    """The embedded log of a store engine whose SQLite file it shares: `enqueue` appends to it directly."""

    def __init__(self, bus: _LogInStoreFile) -> None:
        self.bus = bus
        self._appended = threading.local()  # (topic -> partitions) this thread appended to since its last commit

    def flush(self, conn: Connection, batches: list[Sequence[Outbound]]) -> None:
        messages = [m for batch in batches for m in batch]
        appended = self._partitions()
        for topic, parts in self.bus.append_within(conn.connection.dbapi_connection, messages).items():  # type: ignore[arg-type]
            appended.setdefault(topic, set()).update(parts)

    def _partitions(self) -> dict[str, set[int]]:
        appended: dict[str, set[int]] | None = getattr(self._appended, "partitions", None)
        if appended is None:
            appended = self._appended.partitions = {}
        return appended

    def wake(self) -> None:
        """After the committing thread's commit: its appends are visible, the pipeline fetches them."""
        appended = self._partitions()
        for topic in sorted(appended):
            self.bus.notify_appended(topic, appended[topic])
        appended.clear()


_INLINE: weakref.WeakKeyDictionary[Engine, _InlineLog] = weakref.WeakKeyDictionary()


def shares_file(store: StatusStore, bus: object) -> bool:
    """True when `bus` is an embedded log living in the store's SQLite file."""
    path = getattr(bus, "path", None)
    database = store.engine.url.database if store.engine.dialect.name == "sqlite" else None
    return (path is not None and hasattr(bus, "append_within") and database not in (None, "", ":memory:")
            and Path(str(database)).resolve() == Path(path).resolve())


def enqueue(conn: Connection, messages: Sequence[Outbound]) -> list[dict[str, object]]:
    """Add `messages` to the outbox inside the caller's transaction (kept only if it commits). Inside a
    group-commit batch the rows of all its units go in one insert at the end of the batch, in unit order.
    When the embedded log shares the store's file, they go straight onto the log instead (same transaction).
    Returns the outbox rows (none for the log; queued ones may still change until the batch's end:
    producers.numbering)."""
    inline = _INLINE.get(conn.engine)
    if inline is not None:
        if not at_batch_end(conn, inline.flush, messages):
            inline.flush(conn, [messages])
        return []
    now = utcnow()
    rows: list[dict[str, object]] = [
        {"topic": m.topic, "key": m.key, "event": m.event.to_json().decode(), "created_at": now} for m in messages]
    if not at_batch_end(conn, _add, rows):
        _add(conn, [rows])
    return rows


def _add(conn: Connection, batches: list[list[dict[str, object]]]) -> None:
    if rows := [row for batch in batches for row in batch]:
        conn.execute(_ADD, rows)


def pending(store: StatusStore) -> int:
    """Messages committed but not yet on the bus (readiness, metrics, tests)."""
    with reading(store.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


class OutboxRelay:
    """Moves committed outbox rows to `bus`; thread-safe, restartable at any point."""

    def __init__(self, store: StatusStore, bus: Bus, *, batch: int = BATCH, poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.bus = bus
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._drain_lock = threading.Lock()  # one drain per process at a time: order is kept
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.bus_down = False  # the last send failed: the committing threads leave relaying to the background
        self._shared = store.engine.dialect.name == "postgresql"  # several processes share the outbox
        self._held: Connection | None = None  # PostgreSQL: the connection holding the drain lock between drains
        self._found_at = 0.0  # when the held lock last found rows to relay
        self._busy_at: float | None = None  # when a drain last found the lock held by another process's relay
        self._inline: _InlineLog | None = None
        if shares_file(store, bus):  # one file: submissions append to the log in their own transaction
            self._inline = _INLINE.setdefault(store.engine, _InlineLog(bus))  # type: ignore[arg-type]

    # -- relaying -------------------------------------------------------------
    def drain(self, *, hold: bool = False) -> int:
        """Relay every committed row (in batches); the number relayed. Bus errors propagate, rows stay.

        On PostgreSQL, 0 when another process's relay holds the drain lock (it relays our rows too). `hold` (the
        background thread): keep the lock after the drain while rows keep coming (`_drain_shared`)."""
        with self._drain_lock:
            if self._shared:
                return self._drain_shared(hold)
            total = 0
            while True:
                moved = self._relay_batch()
                total += moved
                if moved < self.batch:
                    return total

    def after_commit(self) -> None:
        """Called by a writer after its commit: relay now (SQLite) or wake the relay thread (PostgreSQL, or the
        bus is known to be down)."""
        if self._inline is not None:
            self._inline.wake()
            return  # nothing was put in the outbox; the background relay drains what older processes left
        if self.bus_down or self._shared:
            self.kick()
            return
        try:
            self.drain()
        except Exception as exc:  # the message is durable in the outbox: the background relay retries
            self.bus_down = True
            log.warning("outbox relay: the bus did not take the messages (%s); retrying in the background", exc)
            self.kick()

    def _relay_batch(self) -> int:
        with reading(self.store.engine) as conn:  # SQLite: never hold the store's write lock across a bus send
            rows = self._oldest(conn)
        if rows:
            self._send(rows)
            with self.store.transaction() as conn:
                self._delete(conn, rows)
        return len(rows)

    def _drain_shared(self, hold: bool) -> int:
        """PostgreSQL: drain under the session lock, on a connection in autocommit: each statement (lock, read, delete,
        unlock) is its own transaction, one round trip each, and no transaction is open while the broker acknowledges.

        The background relay (`hold`) keeps the lock and its connection between drains while it finds rows (then
        looking every HELD_POLL_SECONDS), and lets them go after HOLD_SECONDS without any: under load, one process
        relays for all of them with two statements per drain (read, delete), and the others, finding the lock held,
        do not ask for it again for `poll_seconds` -- the holder relays their rows within HELD_POLL_SECONDS."""
        conn = self._held
        if conn is None:
            if hold and self._busy_at is not None and time.monotonic() - self._busy_at < self.poll_seconds:
                return 0  # another process's relay held the lock a moment ago: it relays our rows too
            conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                locked = conn.execute(select(func.pg_try_advisory_lock(_RELAY_LOCK))).scalar_one()
            except BaseException:
                conn.close()
                raise
            if not locked:
                conn.close()
                self._busy_at = time.monotonic()
                return 0
            self._busy_at = None
            self._found_at = time.monotonic()
        self._held = None
        total = 0
        try:
            while True:
                rows = self._oldest(conn)
                self._send(rows)
                self._delete(conn, rows)
                total += len(rows)
                if len(rows) < self.batch:
                    break
        except BaseException:
            self._let_go(conn)
            raise
        now = time.monotonic()
        if total:
            self._found_at = now
        if hold and now - self._found_at < HOLD_SECONDS:
            self._held = conn
            return total
        self._let_go(conn)
        if hold and pending(self.store):  # committed after our last read, by a process that found the lock held
            self._wake.set()
        return total

    def _let_go(self, conn: Connection) -> None:
        try:
            self._unlock(conn)
        finally:
            conn.close()

    @staticmethod
    def _unlock(conn: Connection) -> None:
        try:
            conn.execute(select(func.pg_advisory_unlock(_RELAY_LOCK)))
        except Exception:
            log.warning("outbox relay: could not release the drain lock; closing its connection (which releases it)")
            conn.invalidate()  # a pooled connection must never keep the lock: the server drops it with the session

    def _oldest(self, conn: Connection) -> list[_Row]:
        return [_Row(r.seq, r.topic, r.key, r.event) for r in conn.execute(_OLDEST, {"batch": self.batch}).all()]

    def _send(self, rows: list[_Row]) -> None:
        if not rows:
            return
        kill_point("relay:before-send")
        send_encoded = getattr(self.bus, "send_encoded", None)
        if send_encoded is not None:  # Kafka: the stored JSON goes out as it is (no parse, no second serialization)
            send_encoded([(r.topic, r.key, r.event.encode()) for r in rows])
        else:
            messages = [Outbound(r.topic, r.key, CloudEvent.from_json(r.event)) for r in rows]
            send_once = getattr(self.bus, "send_once", None)
            if send_once is not None:
                send_once(messages)
            else:
                self.bus.send(messages)
        kill_point("relay:after-send")

    @staticmethod
    def _delete(conn: Connection, rows: list[_Row]) -> None:
        if rows:
            conn.execute(_DELETE, {"seqs": [r.seq for r in rows]})

    # -- background -----------------------------------------------------------
    def kick(self) -> None:
        self.start()
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._drain_lock.acquire(timeout=10):
            try:
                if self._held is not None:  # the drain lock goes now, not when the process ends
                    held, self._held = self._held, None
                    self._let_go(held)
            finally:
                self._drain_lock.release()

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _run(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(Exception), stop=stop_never, wait=wait_exponential(multiplier=0.2, max=10),
            sleep=self._pause, reraise=True,
            before_sleep=lambda state: log.warning("outbox relay: %s; trying again", state.outcome and state.outcome.exception()),
        )
        while not self._stopping.is_set():
            self._wake.wait(HELD_POLL_SECONDS if self._held is not None else self.poll_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                return
            for attempt in retrying:
                with attempt:
                    if self._stopping.is_set():
                        return
                    self.drain(hold=True)
            self.bus_down = False
