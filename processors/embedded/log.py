"""A durable, partitioned, append-only log in SQLite (WAL): the embedded host's bus.

Kafka's model on one file: topics split into partitions by a hash of the key,
each partition an ordered sequence of offsets, consumer groups with committed
offsets. `commit()` appends a consumer's outputs and advances its offset in one
transaction, so hops inside the pipeline are exactly-once; external effects
stay at-least-once and are made idempotent by the adapters.

Durability per write (WAL): what producers append (`send`, `send_once`: the outbox relay, the
scheduler) is flushed to disk before the call returns, because their callers then delete or mark
rows in the status store that only the log remembers from then on. A consumer's `commit` is not
flushed (synchronous=NORMAL; one fsync less per hop on the path from submission to delivery):
it survives kill -9 like any committed transaction (the data is in the OS), and a power loss
can only take back the last commits whole -- outputs and offset together, so the pipeline redoes
those hops from inputs that are still there, as after a kill before the commit. The next flushed
write (a relay, or a checkpoint) makes every earlier commit durable too.

One file with the status store: on one node the log lives in the store's SQLite file (`Settings.log_path`),
so a submission's event is appended in the very transaction that keeps its store rows (`append_within`,
called by processors.outbox) -- one commit, one fsync, no relay step. The log's writers then queue on the
store engine's writer turn (persistence.writer_turn): one file has one write lock. A data dir of the
two-file layout (`bus.db` beside `status.db`) is merged into the store's file at start (`absorb`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from persistence.writer_turn import WriterTurn
from processors.bus import BusUnavailable, Outbound
from schemas.events import CONTENT_TYPE, CloudEvent

log = logging.getLogger("govcast.embedded")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL, part INTEGER NOT NULL, offset INTEGER NOT NULL,
    key TEXT NOT NULL, value BLOB NOT NULL, headers TEXT NOT NULL, ts REAL NOT NULL,
    PRIMARY KEY (topic, part, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL,
    PRIMARY KEY (topic, part)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offsets (grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, part)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS relayed (event_id TEXT PRIMARY KEY, ts REAL NOT NULL) WITHOUT ROWID;
"""
T = TypeVar("T")
Appended = dict[str, set[int]]  # the partitions a transaction appended to, by topic
Encoded = dict[tuple[str, int], list[tuple[Outbound, bytes]]]  # messages and their stored bytes, by (topic, partition)
RECENT_EVENTS = 4096  # events appended by this process kept to hand to their consumer undecoded (`fetch`)
RELAYED_KEEP_SECONDS = 7 * 86400  # how long an outbox relay's event ids are remembered (dedup after a crash)
_TABLES = ("topics", "messages", "heads", "offsets", "relayed")  # what `absorb` copies from a two-file data dir


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str
    event: CloudEvent


def partition_for(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode()) % partitions


class SqliteLog:
    """Thread-safe: one SQLite connection per thread, writers serialized by a mutex and BEGIN IMMEDIATE.

    `turn`: the writer turn of the status store's engine when the log lives in the store's file."""

    def __init__(self, path: Path, default_partitions: int = 4, *, turn: WriterTurn | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.default_partitions = default_partitions
        self._local = threading.local()
        # Writers of this process take turns on a mutex before BEGIN IMMEDIATE: SQLite's busy handler makes a
        # waiting connection sleep (1, 2, 5 … up to 100 ms) and try again, so with the pipeline's consumer
        # threads and the relay all writing, the lock sat free while they slept. Other processes still wait
        # on the busy timeout.
        self._writer_turn = turn or WriterTurn()
        self._listeners: list[Callable[[str, frozenset[int] | None], None]] = []
        self._partitions: dict[str, int] = {}
        # Events this process appended, by their exact stored bytes: a consumer fetching those very bytes takes the
        # event instead of parsing and validating them again (most of a fetch's CPU: a submission carries its whole
        # publication). Taken once (a second fetch, after a failure or from another group, decodes as before);
        # oldest dropped first. Bytes appended by other processes, or after a restart, are decoded.
        self._recent: dict[bytes, CloudEvent] = {}
        self._recent_lock = threading.Lock()
        self._conn().executescript(_SCHEMA)

    # -- plumbing -----------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # an accepted (202) submission survives power loss too
            self._local.conn = conn
            self._local.flushed = True
        return conn

    def _write(self, fn: Callable[[sqlite3.Connection], T], *, flush: bool = True, single: bool = False) -> T:
        """Run `fn` in one write transaction, its result once committed; `flush`: fsync the WAL at commit (see the
        module's docstring). `single`: `fn` runs one statement, its own transaction (no BEGIN and COMMIT: the
        writer turn is held for one call into SQLite, not three -- a thread that holds it and waits for the GIL
        between calls keeps the group-commit writer waiting too)."""
        conn = self._conn()
        try:
            if self._local.flushed != flush:  # a connection setting, changed only when this thread's need changes
                conn.execute(f"PRAGMA synchronous={'FULL' if flush else 'NORMAL'}")
                self._local.flushed = flush
            self._writer_turn.take(id(conn))
            try:
                if single:
                    return fn(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            finally:
                self._writer_turn.give_back(id(conn))
        except sqlite3.OperationalError as exc:  # disk full, locked for 30 s, read-only file
            raise BusUnavailable(f"embedded log unavailable: {exc}") from exc

    def add_listener(self, callback: Callable[[str, frozenset[int] | None], None]) -> None:
        """`callback(topic, partitions)` runs after every commit that appended to `topic` (wakes consumers):
        `partitions` are those appended to, None when not known (every partition of the topic)."""
        self._listeners.append(callback)

    def notify_appended(self, topic: str, partitions: Iterable[int] | None = None) -> None:
        """Wake this process's consumers of `topic` (of `partitions`; None: all): appended to by this process's
        store writers after their commit (processors.outbox), or by another process (govcast.api_processes)."""
        parts = None if partitions is None else frozenset(partitions)
        for callback in self._listeners:
            callback(topic, parts)

    def _notify(self, appended: Appended) -> None:
        """Only the consumers of the partitions appended to fetch again: under load most commits touch a few of a
        topic's partitions, and a woken consumer with nothing to read costs a thread hop and two queries."""
        for topic, parts in appended.items():
            self.notify_appended(topic, parts)

    # -- topics -------------------------------------------------------------
    def ensure_topic(self, name: str, partitions: int | None = None, *, conn: sqlite3.Connection | None = None) -> int:
        """The partition count of topic `name`, created if new (on `conn` when the caller holds a transaction)."""
        if name in self._partitions:
            return self._partitions[name]
        conn = conn or self._conn()
        conn.execute("INSERT OR IGNORE INTO topics(name, partitions) VALUES (?, ?)", (name, partitions or self.default_partitions))
        (count,) = conn.execute("SELECT partitions FROM topics WHERE name = ?", (name,)).fetchone()
        self._partitions[name] = count
        return int(count)

    # -- producing ----------------------------------------------------------
    def _encode(self, messages: Iterable[Outbound], conn: sqlite3.Connection | None = None) -> Encoded:
        """Messages grouped by (topic, partition), in order, with the bytes to store: a consumer's commit encodes
        its outputs before it takes the writer turn."""
        grouped: Encoded = {}
        for msg in messages:
            where = (msg.topic, partition_for(msg.key, self.ensure_topic(msg.topic, conn=conn)))
            grouped.setdefault(where, []).append((msg, msg.event.to_json()))
        return grouped

    def _append(self, conn: sqlite3.Connection, grouped: Encoded) -> Appended:
        """Append in order; one head update per (topic, partition) touched, the rows in one executemany. Returns
        the partitions appended to, by topic (whom to wake after the commit)."""
        now, header = time.time(), f'{{"content-type": "{CONTENT_TYPE}"}}'
        for (topic, part), batch in grouped.items():
            (end,) = conn.execute(
                "INSERT INTO heads(topic, part, next) VALUES (?, ?, ?) "
                "ON CONFLICT(topic, part) DO UPDATE SET next = next + excluded.next RETURNING next",
                (topic, part, len(batch)),
            ).fetchone()
            first = end - len(batch)
            conn.executemany(
                "INSERT INTO messages(topic, part, offset, key, value, headers, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(topic, part, first + n, m.key, value, header, now) for n, (m, value) in enumerate(batch)],
            )
            self._remember((value, m.event) for m, value in batch)
        appended: Appended = {}
        for topic, part in grouped:
            appended.setdefault(topic, set()).add(part)
        return appended

    def append_within(self, conn: sqlite3.Connection, messages: Sequence[Outbound]) -> Appended:
        """Append `messages` inside the caller's open write transaction on this log's file (the status store's
        connection, processors.outbox): they are kept if and only if that transaction commits. The caller
        wakes the consumers of the partitions returned after its commit (`notify_appended`)."""
        return self._append(conn, self._encode(messages, conn))

    def send(self, messages: list[Outbound]) -> None:
        if not messages:
            return
        grouped = self._encode(messages)
        self._notify(self._write(lambda conn: self._append(conn, grouped)))

    def send_once(self, messages: list[Outbound]) -> int:
        """Append the messages whose event id this log has not taken from a relay before; how many were new.

        The outbox relay (processors.outbox) uses it: a relay killed after appending and before
        deleting its outbox rows sends them again, and this makes the second send a no-op.
        """
        if not messages:
            return 0
        for msg in messages:
            self.ensure_topic(msg.topic)
        fresh: list[Outbound] = []

        def txn(conn: sqlite3.Connection) -> Appended:
            now = time.time()
            for msg in messages:
                if conn.execute("INSERT OR IGNORE INTO relayed(event_id, ts) VALUES (?, ?)", (msg.event.id, now)).rowcount:
                    fresh.append(msg)
            return self._append(conn, self._encode(fresh, conn))

        self._notify(self._write(txn))
        return len(fresh)

    def _remember(self, events: Iterable[tuple[bytes, CloudEvent]]) -> None:
        """Keep appended events for `fetch` (an append rolled back leaves entries no row has: never matched, or
        matched by the same bytes appended again, which decode to the same event)."""
        with self._recent_lock:
            recent = self._recent
            recent.update(events)
            while len(recent) > RECENT_EVENTS:
                del recent[next(iter(recent))]

    def _decoded(self, value: bytes) -> CloudEvent:
        with self._recent_lock:
            event = self._recent.pop(value, None)
        return event if event is not None else CloudEvent.from_json(value)

    # -- consuming ----------------------------------------------------------
    def committed(self, group: str, topic: str, partition: int) -> int:
        row = self._conn().execute(
            "SELECT next FROM offsets WHERE grp = ? AND topic = ? AND part = ?", (group, topic, partition)
        ).fetchone()
        return int(row[0]) if row else 0

    def fetch(self, group: str, topic: str, partition: int, limit: int = 100) -> list[Record]:
        """Up to `limit` records after `group`'s committed offset; one query (the offset a subquery of it)."""
        rows = self._conn().execute(
            "SELECT offset, key, value FROM messages WHERE topic = ? AND part = ? AND offset >= "
            "COALESCE((SELECT next FROM offsets WHERE grp = ? AND topic = ? AND part = ?), 0) ORDER BY offset LIMIT ?",
            (topic, partition, group, topic, partition, limit),
        ).fetchall()
        return [Record(topic, partition, off, key, self._decoded(value)) for off, key, value in rows]

    def commit(self, group: str, record: Record, outputs: list[Outbound]) -> None:
        """Append `outputs` and mark `record` consumed by `group`, atomically."""
        grouped = self._encode(outputs)  # before the writer turn: what needs no transaction is done outside it

        def txn(conn: sqlite3.Connection) -> Appended:
            appended = self._append(conn, grouped)
            conn.execute(
                "INSERT INTO offsets(grp, topic, part, next) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(grp, topic, part) DO UPDATE SET next = MAX(next, excluded.next)",
                (group, record.topic, record.partition, record.offset + 1),
            )
            return appended

        # flush off: a power loss takes back outputs and offset together, and the hop is redone. Without outputs
        # the offset's upsert is the one statement: its own transaction.
        self._notify(self._write(txn, flush=False, single=not grouped))

    def commit_and_fetch(self, group: str, record: Record, outputs: list[Outbound], limit: int) -> list[Record]:
        """`commit`, then `fetch` the same partition from the new offset: the embedded host makes one call (one thread
        hop) of the two when it already knows more waits. The fetch reads what was committed, as a call of its own."""
        self.commit(group, record, outputs)
        return self.fetch(group, record.topic, record.partition, limit)

    def heads(self) -> dict[tuple[str, int], int]:
        """The next offset of every (topic, partition) appended to so far: they only grow (the host's watcher)."""
        rows = self._conn().execute("SELECT topic, part, next FROM heads").fetchall()
        return {(topic, int(part)): int(end) for topic, part, end in rows}

    def lag(self, group: str, topic: str) -> int:
        """Messages of `topic` not yet consumed by `group` (for readiness, metrics and tests)."""
        parts = self.ensure_topic(topic)
        total = 0
        for part in range(parts):
            head = self._conn().execute("SELECT next FROM heads WHERE topic = ? AND part = ?", (topic, part)).fetchone()
            total += (int(head[0]) if head else 0) - self.committed(group, topic, part)
        return total

    def prune(self, consumers: dict[str, list[str]]) -> int:
        """Delete messages of each topic that all of its consumer groups have committed.

        Topics without consumers (the dead-letter topic) are kept for operators.
        """
        deleted = 0

        def txn(conn: sqlite3.Connection) -> None:
            nonlocal deleted
            for topic, groups in consumers.items():
                for part in range(self.ensure_topic(topic)):
                    floor = min(self.committed(g, topic, part) for g in groups)
                    cur = conn.execute("DELETE FROM messages WHERE topic = ? AND part = ? AND offset < ?", (topic, part, floor))
                    deleted += cur.rowcount
            conn.execute("DELETE FROM relayed WHERE ts < ?", (time.time() - RELAYED_KEEP_SECONDS,))

        self._write(txn, flush=False)  # deletes only what every consumer has committed
        return deleted

    def absorb(self, legacy: Path) -> bool:
        """Move the log of a two-file data dir (`legacy`, the old bus.db) into this file; True if there was one.

        Copied in one transaction (INSERT OR IGNORE: a copy killed before the rename below runs again to the same
        result), then `legacy` is renamed `<name>.merged`, so it is never read twice."""
        if not legacy.exists() or legacy.resolve() == self.path.resolve():
            return False
        with sqlite3.connect(legacy, timeout=30) as old:  # its WAL into the file: ATTACH then sees everything
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        old.close()
        conn = self._conn()
        conn.execute("ATTACH DATABASE ? AS legacy", (str(legacy),))
        try:
            present = {name for (name,) in conn.execute("SELECT name FROM legacy.sqlite_master WHERE type = 'table'")}

            def copy(conn: sqlite3.Connection) -> None:
                for table in _TABLES:
                    if table in present:
                        conn.execute(f"INSERT OR IGNORE INTO main.{table} SELECT * FROM legacy.{table}")

            self._write(copy)
        finally:
            conn.execute("DETACH DATABASE legacy")
        self._partitions.clear()
        merged = legacy.with_name(legacy.name + ".merged")
        os.replace(legacy, merged)
        for suffix in ("-wal", "-shm"):
            Path(f"{legacy}{suffix}").unlink(missing_ok=True)
        log.warning("the embedded log %s was merged into %s (one file for the store and the log now); "
                    "the old file is kept as %s and can be deleted", legacy, self.path, merged)
        return True

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
