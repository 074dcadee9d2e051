"""Writers of one SQLite file take turns -- on a mutex in their process, then on a lock file shared by every process
using that database -- before they ask for SQLite's write lock (BEGIN IMMEDIATE).

A connection that finds SQLite's write lock taken sleeps and tries again (SQLite's busy handler: 1, 2,
5, 10 … up to 100 ms between tries). With the group-commit writer, the outbox relay and the pipeline's
threads all writing the store, the lock often sat free while its waiters slept: the submit path waited
on sleeps, not on work. A mutex hands the turn to the next writer of this process as soon as the last
one committed or rolled back.

Writers in other processes (`govcast run --api-processes`, a `govcast token create` beside a running server) met
at SQLite's lock the same way: a writer of one process slept in the busy handler while the other process took the
lock back to back. So the holder of a process's turn also takes an exclusive `flock` on a file beside the database
(`<database>.writer-turn`), given back with the turn. Waiting for it is one blocking system call that lets go of
the GIL and returns as soon as the other process gives it back; the kernel gives it back when a process dies (kill
-9 included), since the lock goes with the process's open file. There is one turn per database file in a process
(`for_file`): the store's engines and the embedded log in the store's file share it, and never wait for
themselves on the lock file. The lock file is only a meeting point: SQLite's own locking still decides who
writes (a writer that does not take the turn, e.g. the sqlite3 shell, is held off by SQLite as before).
Unlike SQLite's busy timeout, the wait for another process's turn has no time limit: it lasts as long as that
process's transaction (a process stopped inside one, SIGSTOP, holds every other process's writers until it goes
on or dies).

Keys are the DB-API connections: the turn is given back by the connection that took it, when its
transaction ends (commit, rollback, or the connection closed or invalidated). A thread that already
holds the turn and opens a second write transaction on another connection does not wait for itself:
SQLite decides, as without the turn; nor does anyone wait longer than SQLite's own busy timeout for a writer of
its own process.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger("govcast.store")

TURN_TIMEOUT = 30.0  # seconds, the busy timeout the SQLite connections have
LOCK_SUFFIX = ".writer-turn"  # the lock file beside the database, shared by the processes writing it


class WriterTurn:
    """The turn of one database file's writers in this process; `lock_path`: the lock file shared with other
    processes (None: this process only, e.g. an in-memory database)."""

    def __init__(self, lock_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None  # the thread holding the turn
        self._holder: int | None = None  # id() of the DB-API connection holding it
        self._file: int | None = None  # the lock file's descriptor, while the turn holds its lock
        self._fd = _open_lock_file(lock_path) if lock_path is not None else None
        if self._fd is not None:
            weakref.finalize(self, os.close, self._fd)

    def take(self, key: int) -> None:
        if self._owner == threading.get_ident():
            return  # nested write on a second connection of this thread: SQLite's busy handler decides
        if not self._lock.acquire(timeout=TURN_TIMEOUT):
            log.warning("a store writer waited %.0f s for its turn; asking SQLite directly", TURN_TIMEOUT)
            return
        self._owner, self._holder = threading.get_ident(), key
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocks without the GIL while another process has its turn
                self._file = self._fd
            except OSError as exc:  # cannot happen on a local file system; SQLite's own lock still keeps writers apart
                log.warning("the writer turn's lock file could not be locked (%s); asking SQLite directly", exc)

    def give_back(self, key: int) -> None:
        if self._holder is not None and self._holder == key:
            self._owner = self._holder = None
            if self._file is not None:
                self._file = None
                with contextlib.suppress(OSError):
                    fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[arg-type]
            self._lock.release()


def _open_lock_file(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:  # a read-only data dir: this process's writers still take turns among themselves
        log.warning("no writer turn across processes: cannot open %s (%s)", path, exc)
        return None


_BY_FILE: weakref.WeakValueDictionary[str, WriterTurn] = weakref.WeakValueDictionary()
_BY_FILE_LOCK = threading.Lock()


def for_file(database: Path | str | None) -> WriterTurn:
    """The turn of the writers of SQLite file `database` in this process (one per file, while anyone uses it); an
    in-memory database (None, "" or ":memory:") gets a turn of its own, for this process only."""
    if database is None or str(database) in ("", ":memory:"):
        return WriterTurn()
    path = Path(database).resolve()
    with _BY_FILE_LOCK:
        turn = _BY_FILE.get(str(path))
        if turn is None:
            turn = WriterTurn(path.with_name(path.name + LOCK_SUFFIX))
            _BY_FILE[str(path)] = turn
        return turn


_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurn] = weakref.WeakKeyDictionary()


def _key(connection: Any) -> int:
    """The DB-API connection behind what SQLAlchemy hands the dialect (a pool proxy) or the pool events."""
    return id(getattr(connection, "dbapi_connection", connection))


def install(engine: Engine) -> WriterTurn:
    """Give back the turn when a transaction of `engine` ends; the caller takes it before BEGIN IMMEDIATE."""
    turn = for_file(engine.url.database)
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
    """The turn `install` gave `engine` (None for PostgreSQL): the turn of its file (`for_file`), on which the other
    writers of that file (the embedded log, when it lives in the store's file) queue too."""
    return _TURNS.get(engine)
