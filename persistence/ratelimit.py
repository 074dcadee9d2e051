"""Per-token rate limits shared by every API process on one store: GCRA (the generic cell rate algorithm).

Each key keeps one number, its theoretical arrival time (TAT). A request at `now` is allowed when
max(TAT, now) + T - now <= T * burst (T = 1 / rate); the TAT then moves to max(TAT, now) + T.
Sustained, that allows `rate` requests a second; after a quiet spell, `burst` at once.

The check is ONE statement (INSERT … ON CONFLICT DO UPDATE … WHERE allowed RETURNING), so API
processes sharing the state cannot both spend the same allowance, and a row is locked only for
that statement (no read-then-write round trip: a busy token does not become a lock queue). The
state is disposable -- losing it forgets some recent requests -- so it lives where writes are cheap:
on PostgreSQL an UNLOGGED table in the store's database, on SQLite a file of its own next to the
store without fsync (`ratelimit.db`), shared by the processes of that machine.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, bindparam, create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

_SLACK = 1e-6  # epoch seconds as doubles round at ~0.2 µs: a request exactly on time is not refused for that
_meta = MetaData()
rate_limits = Table("rate_limits", _meta, Column("key", String(80), primary_key=True), Column("tat", Float, nullable=False))
_DDL = {
    "postgresql": "CREATE UNLOGGED TABLE IF NOT EXISTS rate_limits (key varchar(80) PRIMARY KEY, tat double precision NOT NULL)",
    "sqlite": "CREATE TABLE IF NOT EXISTS rate_limits (key varchar(80) PRIMARY KEY, tat double precision NOT NULL)",
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until one more request would be allowed


class RateLimiter:
    def __init__(self, engine: Engine, rate_per_second: float, burst: int, clock: Callable[[], float] = time.time) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.engine = engine
        self.interval = 1.0 / rate_per_second
        self.tolerance = self.interval * burst
        self.clock = clock
        # One statement, built once: SQLAlchemy builds and cache-keys a fresh construct for ~0.4 ms, which
        # every authenticated request would pay; executing a prebuilt one with parameters costs a fraction.
        insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(rate_limits)
        greatest = func.greatest if engine.dialect.name == "postgresql" else func.max
        now = bindparam("now", type_=Float)
        new_tat = greatest(rate_limits.c.tat, now) + self.interval
        self._spend = (insert.values(key=bindparam("key", type_=String), tat=now + self.interval)
                       .on_conflict_do_update(index_elements=[rate_limits.c.key], set_={"tat": new_tat},
                                              where=new_tat - now <= self.tolerance + _SLACK)
                       .returning(rate_limits.c.tat))
        self._read = select(rate_limits.c.tat).where(rate_limits.c.key == bindparam("key", type_=String))
        with engine.begin() as conn:
            conn.execute(text(_DDL[engine.dialect.name]))

    @classmethod
    def for_store(cls, store_engine: Engine, rate_per_second: float, burst: int) -> RateLimiter:
        """On PostgreSQL the store's own database; on SQLite a `ratelimit.db` beside the store file."""
        if store_engine.dialect.name == "postgresql":
            return cls(store_engine, rate_per_second, burst)
        database = make_url(store_engine.url).database
        path = Path(database).with_name("ratelimit.db") if database and database != ":memory:" else None
        return cls(_scratch_sqlite(path), rate_per_second, burst)

    def check(self, key: str) -> Decision:
        """Spend one request of `key`'s allowance, or say how long until there is one."""
        now = self.clock()
        with self.engine.begin() as conn:
            if conn.execute(self._spend, {"key": key, "now": now}).first() is not None:
                return Decision(True)
            tat = conn.execute(self._read, {"key": key}).scalar() or now
        return Decision(False, retry_after=max(0.0, max(tat, now) + self.interval - now - self.tolerance - _SLACK))

    def close(self) -> None:
        if self.engine.dialect.name == "sqlite":
            self.engine.dispose()


class FailedGuesses:
    """Failed token guesses per client address: a shared GCRA allowance (`limiter`, keys `guess:<address>`)
    spent only by requests whose bearer token is not valid.

    Once the allowance is spent, this process remembers the address until the allowance refills and
    refuses its tokens unread: a guessing client gets 429 without each guess being hashed and looked up,
    and without learning whether a guess was right. Other processes on the store learn it from the
    shared allowance at the address's next failure. A valid token from the same address is refused too
    while it is blocked -- that is what makes guesses useless -- so behind a reverse proxy the proxy
    must pass the client's address on (X-Forwarded-For; docs/operations.md, *Behind a reverse proxy*).
    """

    MAX_REMEMBERED = 10_000  # addresses held in memory; expired ones are dropped first

    def __init__(self, limiter: RateLimiter, clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = limiter
        self.clock = clock
        self._blocked: dict[str, float] = {}  # address -> clock() until which its tokens are refused unread
        self._lock = threading.Lock()

    def blocked_for(self, address: str) -> float:
        """Seconds this address must still wait before a token of its is read again (0: not blocked)."""
        with self._lock:
            until = self._blocked.get(address)
            if until is None:
                return 0.0
            left = until - self.clock()
            if left <= 0:
                del self._blocked[address]
                return 0.0
            return left

    def failed(self, address: str) -> float:
        """Count one failed guess; the seconds to wait when that spent the allowance (0: a plain 401)."""
        decision = self.limiter.check("guess:" + address)
        if decision.allowed:
            return 0.0
        wait = max(decision.retry_after, self.limiter.interval / 10)
        with self._lock:
            if len(self._blocked) >= self.MAX_REMEMBERED:
                now = self.clock()
                self._blocked = {a: u for a, u in self._blocked.items() if u > now}
            if len(self._blocked) < self.MAX_REMEMBERED:
                self._blocked[address] = self.clock() + wait
        return wait

    def close(self) -> None:
        self.limiter.close()


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def _scratch_sqlite(path: Path | None) -> Engine:
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if path is None:
        options["poolclass"] = StaticPool  # one in-memory database for every thread of this process
    engine = create_engine(f"sqlite:///{path}" if path else "sqlite://", **options)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=OFF")  # disposable state: no fsync per request
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
