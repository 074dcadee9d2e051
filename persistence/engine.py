"""Database plumbing of the status store: URL forms, engines, locks, retryable errors (the schema: persistence.migrate).

Two backends: SQLite for one node (the default, a file in the data dir) and
PostgreSQL for many nodes sharing one view. On SQLite every write transaction
starts with BEGIN IMMEDIATE, so writers simply take turns. On PostgreSQL writers
run concurrently at READ COMMITTED; the store makes its read-then-write steps safe
with ON CONFLICT, row locks (SELECT … FOR UPDATE) and transaction-scoped
advisory locks (`advisory_lock`), and callers retry what `retryable` names.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InvalidatePoolError

from persistence import writer_turn

PG_DRIVER = "postgresql+psycopg"
_PG_ALIASES = ("postgres://", "postgresql://")  # libpq-style URLs as hosting providers hand them out
# SQLSTATEs worth one more attempt of the whole transaction: serialization failure, deadlock.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
READ_ONLY = "govcast_read_only"  # execution option of connections that never write (see `reading`)
_BATCH_MEMO = "govcast_batch_memo"  # Connection.info key: see `batch_memo`
_UNIT_WRITES = "govcast_unit_writes"  # Connection.info key: see `at_batch_end`
_FIRST, _PLAIN, _LOCKING = 0, 1, 2  # the order `at_batch_end` flushes run in: runs_first, plain, takes_shared_lock
PING_IDLE_SECONDS = 1.0  # a pooled PostgreSQL connection idle this long is pinged before use (`_ping_when_idle`)
_CHECKED_IN = "govcast_checked_in"  # pool record info key: when the connection last went back to the pool
Flush = Callable[[Connection, list[Any]], None]  # writes the rows several units queued, in one go


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: on SQLite it does not take the write lock (WAL readers see the last commit)."""
    with engine.connect() as conn:
        yield conn.execution_options(**{READ_ONLY: True})


def batch_memo(conn: Connection) -> dict[str, Any] | None:
    """What writers may remember between the units of one group-commit batch (persistence.group_commit), or
    None outside one. The group commit empties it whenever a unit rolls back to its savepoint, and drops it
    when the batch ends: it never outlives what the transaction holds."""
    memo: dict[str, Any] | None = conn.info.get(_BATCH_MEMO)
    return memo


def open_batch_memo(conn: Connection) -> dict[str, Any]:
    memo: dict[str, Any] = {}
    conn.info[_BATCH_MEMO] = memo
    return memo


def close_batch_memo(conn: Connection) -> None:
    conn.info.pop(_BATCH_MEMO, None)


def at_batch_end(conn: Connection, flush: Flush, row: Any, *, takes_shared_lock: bool = False,
                 runs_first: bool = False) -> bool:
    """Inside a group-commit unit (persistence.group_commit): queue `row` for ONE call `flush(conn, rows)` made
    with the rows of every unit of the batch that succeeded, in unit order, right before the commit. False
    outside a batch: the caller writes the row now.

    Why: a shared lock (the audit chain's) taken at the end of the batch is held for a few statements, not
    for the whole batch -- other API processes wait that long, not longer -- and many rows go in one
    statement. `takes_shared_lock` flushes run after the others, so such locks are the last taken. `runs_first`
    flushes run before all others: they may still change the rows the others write (the 索引号 of submissions
    numbered at the batch's end, producers.numbering). The others (plain writes) run pipelined on PostgreSQL: they
    must not read a statement's result (`_pipelined`)."""
    queued: list[tuple[Flush, Any, int]] | None = conn.info.get(_UNIT_WRITES)
    if queued is None:
        return False
    queued.append((flush, row, _FIRST if runs_first else _LOCKING if takes_shared_lock else _PLAIN))
    return True


def start_unit_writes(conn: Connection) -> list[tuple[Flush, Any, int]]:
    """The group commit, before each unit: a fresh list for what that unit queues with `at_batch_end`."""
    queued: list[tuple[Flush, Any, int]] = []
    conn.info[_UNIT_WRITES] = queued
    return queued


def stop_unit_writes(conn: Connection) -> None:
    conn.info.pop(_UNIT_WRITES, None)


def flush_batch_writes(conn: Connection, queued: list[tuple[Flush, Any, int]]) -> None:
    """Run the queued flushes: one call per flush function with its rows in order; `runs_first` ones first,
    shared locks last."""
    groups: dict[Flush, list[Any]] = {}
    rank: dict[Flush, int] = {}
    for flush, row, flush_rank in queued:
        groups.setdefault(flush, []).append(row)
        rank[flush] = flush_rank

    def run(order: int) -> None:  # each in order of first use
        for flush in (f for f in groups if rank[f] == order):
            flush(conn, groups[flush])

    run(_FIRST)
    with _pipelined(conn):
        run(_PLAIN)
    run(_LOCKING)


@contextmanager
def _pipelined(conn: Connection) -> Iterator[None]:
    """PostgreSQL: the plain end-of-batch flushes (neither `runs_first` nor `takes_shared_lock`: the publication,
    timeline, expiry and outbox inserts) in psycopg's pipeline mode, so their statements reach the server together
    and wait for it once, not once each: round trips fewer while the 索引号 counter row is locked. Such a flush
    must not read a result on PostgreSQL (a pipelined statement has none yet). An error of any of them fails the
    batch, as before (raised when the pipeline ends at the latest, before the next flush)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    import psycopg  # the PostgreSQL driver (PG_DRIVER): only loaded for a PostgreSQL store

    driver = conn.connection.dbapi_connection
    try:
        with driver.pipeline():  # type: ignore[union-attr]
            yield
    except psycopg.Error as exc:  # raised by the pipeline's end, not by a statement: SQLAlchemy did not wrap it
        if driver is not None and driver.closed:
            conn.invalidate()  # the server went away: the pool must not hand this connection out again
        raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL to use: `postgres://` and `postgresql://` get the psycopg 3 driver."""
    for alias in _PG_ALIASES:
        if url.startswith(alias):
            return f"{PG_DRIVER}://{url[len(alias):]}"
    return url


def backend_of(url: str) -> str:
    """'sqlite' or 'postgresql'; ValueError for any other database."""
    name = make_url(normalize_url(url)).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise ValueError(f"the status store runs on SQLite or PostgreSQL, not {name!r} "
                         "(e.g. sqlite:///path/status.db or postgresql+psycopg://user:password@host:5432/db)")
    return name


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if backend_of(url) == "sqlite":
        return _sqlite_engine(url)
    query = make_url(url).query
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in query:
        connect_args["connect_timeout"] = 10
    if "application_name" not in query:
        connect_args["application_name"] = "govcast"
    # READ COMMITTED whatever the server's default: the store's locking is designed for it.
    engine = create_engine(url, pool_size=10, max_overflow=10, isolation_level="READ COMMITTED", connect_args=connect_args)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """`pool_pre_ping`, for connections that sat in the pool `PING_IDLE_SECONDS` or more: a connection handed back a
    moment ago is used without a round trip first. Pinging at every checkout cost the group-commit writer and the
    outbox relay one round trip per batch. A connection the server dropped since it was last used fails its statement
    instead, like a connection the server drops during a transaction (the batch is answered 503, nothing kept), and
    that error invalidates the pool: the next checkout connects anew."""
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise InvalidatePoolError("the pooled connection is gone") from exc
            raise


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below be the only transaction control
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    turn = writer_turn.install(engine)

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        # Take the write lock up front: read-then-write transactions in WAL mode
        # would otherwise fail with SQLITE_BUSY instead of waiting their turn.
        # Connections marked READ_ONLY (`reading()`) only read: in WAL mode they neither
        # wait for nor block the writer, so they start a plain deferred transaction.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        key = id(conn.connection.dbapi_connection)
        turn.take(key)  # this process's writers queue on a mutex, not on SQLite's sleeping busy handler
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            turn.give_back(key)
            raise

    return engine


@contextmanager
def unflushed_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction whose commit SQLite does not fsync (synchronous=NORMAL; as `engine.begin()` on PostgreSQL).

    It survives kill -9 like any commit (the data is in the OS); a power loss can take it back, and with it every
    later commit to the same file, never an earlier one -- the WAL is replayed up to the first frame missing. So only
    for writes that are redone from their inputs when lost and whose inputs are marked consumed in a LATER commit
    to the SAME file (the status projection, with the embedded log in the store's file)."""
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection if engine.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA synchronous=NORMAL")  # on the DB-API connection: no SQLAlchemy transaction begins
        try:
            with conn.begin():
                yield conn
        finally:
            if raw is not None:
                raw.execute("PRAGMA synchronous=FULL")


def advisory_lock(conn: Connection, *name: str) -> None:
    """Hold a lock named `name` until the transaction ends (PostgreSQL advisory lock).

    A no-op on SQLite, where BEGIN IMMEDIATE already lets one writer at a time in.
    """
    if conn.dialect.name != "postgresql":
        return
    digest = hashlib.sha256("\x1f".join(name).encode()).digest()
    conn.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True))))


def unique_violation(exc: BaseException) -> bool:
    """True when `exc` is a duplicate key (primary key or UNIQUE constraint) on either backend."""
    if not isinstance(exc, IntegrityError):
        return False
    orig = exc.orig
    return (getattr(orig, "sqlstate", None) == "23505"
            or getattr(orig, "sqlite_errorname", None) in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"))


def retryable(exc: BaseException) -> bool:
    """True for errors a concurrent transaction caused, where running the transaction again sees the
    winner's committed state: duplicate keys, serialization failures, deadlocks."""
    if unique_violation(exc):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES
