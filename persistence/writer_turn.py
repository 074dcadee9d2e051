"""Writers of one process take turns on a mutex before they ask for SQLite's write lock (BEGIN IMMEDIATE).

A connection that finds SQLite's write lock taken sleeps and tries again (SQLite's busy handler: 1, 2,
5, 10 … up to 100 ms between tries). With the group-commit writer, the outbox relay and the pipeline's
threads all writing the store, the lock often sat free while its waiters slept: the submit path waited
on sleeps, not on work. A mutex hands the turn to the next writer of this process as soon as the last
one committed or rolled back. Writers in other processes (`govcast run --api-processes`) still meet at
SQLite's lock and its busy timeout, as before.

Keys are the DB-API connections: the turn is given back by the connection that took it, when its
transaction ends (commit, rollback, or the connection closed or invalidated). A thread that already
holds the turn and opens a second write transaction on another connection does not wait for itself:
SQLite decides, as without the turn; nor does anyone wait longer than SQLite's own busy timeout.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger("govcast.store")

TURN_TIMEOUT = 30.0  # seconds, the busy timeout the SQLite connections have


class WriterTurn:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None  # the thread holding the turn
        self._holder: int | None = None  # id() of the DB-API connection holding it

    def take(self, key: int) -> None:
        if self._owner == threading.get_ident():
            return  # nested write on a second connection of this thread: SQLite's busy handler decides
        if not self._lock.acquire(timeout=TURN_TIMEOUT):
            log.warning("a store writer waited %.0f s for its turn; asking SQLite directly", TURN_TIMEOUT)
            return
        self._owner, self._holder = threading.get_ident(), key

    def give_back(self, key: int) -> None:
        if self._holder is not None and self._holder == key:
            self._owner = self._holder = None
            self._lock.release()


_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurn] = weakref.WeakKeyDictionary()


def _key(connection: Any) -> int:
    """The DB-API connection behind what SQLAlchemy hands the dialect (a pool proxy) or the pool events."""
    return id(getattr(connection, "dbapi_connection", connection))


def install(engine: Engine) -> WriterTurn:
    """Give back the turn when a transaction of `engine` ends; the caller takes it before BEGIN IMMEDIATE."""
    turn = WriterTurn()
    _TURNS[engine] = turn
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(connection: Any) -> None:
        try:
            commit(connection)
        finally:
            turn.give_back(_key(connection))

    def do_rollback(connection: Any) -> None:
        try:
            rollback(connection)
        finally:
            turn.give_back(_key(connection))

    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]

    @event.listens_for(engine, "close")
    def _closed(dbapi_connection: Any, _record: Any) -> None:
        turn.give_back(_key(dbapi_connection))

    @event.listens_for(engine, "invalidate")
    def _invalidated(dbapi_connection: Any, _record: Any, _exc: Any) -> None:
        turn.give_back(_key(dbapi_connection))

    return turn


def of(engine: Engine) -> WriterTurn | None:
    """The turn `install` gave `engine` (None for PostgreSQL): other writers of the same SQLite file in this
    process (the embedded log, when it lives in the store's file) queue on it too."""
    return _TURNS.get(engine)
