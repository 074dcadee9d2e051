"""Server-side sessions of the operator console: the cookie holds a random id, the store its hash.

A session belongs to a token's principal and dies with it: a revoked or expired token ends its sessions at
their next request. It also ends after `idle` without a request, and at logout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from persistence.engine import reading
from persistence.tables import console_sessions, tokens

TOUCH_EVERY = dt.timedelta(seconds=60)  # last_seen is written at most once a minute per session


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    principal_id: str
    kind: str
    name: str
    publisher_code: str | None
    csrf: str


class Sessions:
    """Mixed into StatusStore."""

    engine: Engine
    transaction: Callable[[], AbstractContextManager[Connection]]

    def open_session(self, principal_id: str, now: dt.datetime) -> tuple[str, str]:
        """A new session for the principal: (cookie value, CSRF token)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.transaction() as conn:
            conn.execute(insert(console_sessions).values(id_hash=_hash(session_id), principal_id=principal_id, csrf=csrf,
                                                         created_at=now, last_seen=now))
        return session_id, csrf

    def session(self, session_id: str, now: dt.datetime, idle: dt.timedelta) -> Session | None:
        """The live session of this cookie value (its idle clock restarted), or None: unknown, idle too long,
        or its token revoked or expired."""
        key = _hash(session_id)
        with reading(self.engine) as conn:
            row: Any = conn.execute(
                select(console_sessions.c.last_seen, console_sessions.c.csrf, tokens.c.id, tokens.c.kind, tokens.c.name,
                       tokens.c.publisher_code, tokens.c.revoked, tokens.c.expires_at)
                .join(tokens, tokens.c.id == console_sessions.c.principal_id)
                .where(console_sessions.c.id_hash == key)).first()
        if row is None:
            return None
        expired = row.expires_at is not None and row.expires_at <= now
        if row.revoked or expired or now - row.last_seen > idle:
            self.close_session(session_id)
            return None
        if now - row.last_seen > TOUCH_EVERY:
            with self.transaction() as conn:
                conn.execute(update(console_sessions).where(console_sessions.c.id_hash == key).values(last_seen=now))
        return Session(row.id, row.kind, row.name, row.publisher_code, row.csrf)

    def close_session(self, session_id: str) -> None:
        with self.transaction() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.id_hash == _hash(session_id)))

    def prune_sessions(self, before: dt.datetime) -> int:
        with self.transaction() as conn:
            return int(conn.execute(delete(console_sessions).where(console_sessions.c.last_seen < before)).rowcount)
