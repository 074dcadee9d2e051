"""Token records of the status store: create, look up, list, revoke.

Only the SHA-256 of a secret is stored. Reads look their token up here on every
request, so a revocation or an expiry takes effect at once on every API node sharing
the store. Submissions may take the principal from a process cache instead
(producers.auth.TokenCache): the group commit then checks the token in the commit's
own transaction (`dead_principals`), which is at least as immediate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, or_, select, update

from persistence.engine import reading
from persistence.tables import tokens

_LIVE_IDS = select(tokens.c.id).where(  # built once: the group commit runs it once per batch
    tokens.c.id.in_(bindparam("ids", expanding=True)), tokens.c.revoked.is_(False),
    or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > bindparam("now")),
)


@dataclass(frozen=True)
class Principal:
    id: str
    kind: str  # department | operator | business
    name: str
    publisher_code: str | None
    client: str | None = field(default=None, compare=False)  # the address a request came from (audit trail)


@dataclass(frozen=True)
class TokenRecord:
    """What an operator may see of a token: never its secret or hash."""

    id: str
    kind: str
    name: str
    publisher_code: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def principal(self) -> Principal:
        return Principal(self.id, self.kind, self.name, self.publisher_code)

    def state(self, now: dt.datetime) -> str:
        """active | expired | revoked"""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def public(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "name": self.name, "publisher_code": self.publisher_code,
            "created_at": self.created_at.isoformat(), "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at), "state": self.state(now),
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _record(row: Any) -> TokenRecord:
    return TokenRecord(row.id, row.kind, row.name, row.publisher_code, row.created_at, row.expires_at, row.revoked_at)


class TokenRecords:
    """Mixin of StatusStore: the token table (needs `self.engine`)."""

    engine: Engine

    def add_token(self, principal: Principal, token_hash: str, *, expires_at: dt.datetime | None = None,
                  conn: Connection | None = None) -> None:
        values = dict(id=principal.id, kind=principal.kind, name=principal.name, publisher_code=principal.publisher_code,
                      token_hash=token_hash, created_at=dt.datetime.now(dt.UTC), revoked=False, expires_at=expires_at)
        if conn is not None:
            conn.execute(insert(tokens).values(**values))
            return
        with self.engine.begin() as c:
            c.execute(insert(tokens).values(**values))

    def principal_for(self, token_hash: str, now: dt.datetime | None = None) -> Principal | None:
        """The principal of a live token: not revoked, not expired at `now`."""
        found = self.live_token(token_hash, now)
        return found[0] if found else None

    def live_token(self, token_hash: str, now: dt.datetime | None = None) -> tuple[Principal, dt.datetime | None] | None:
        """The principal of a live token and when the token expires (None: never)."""
        now = now or dt.datetime.now(dt.UTC)
        with reading(self.engine) as conn:
            row = conn.execute(select(tokens).where(
                tokens.c.token_hash == token_hash, tokens.c.revoked.is_(False),
                or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now),
            )).first()
        return (Principal(row.id, row.kind, row.name, row.publisher_code), row.expires_at) if row else None

    def dead_principals(self, conn: Connection, token_ids: set[str], now: dt.datetime | None = None) -> set[str]:
        """Which of `token_ids` are no longer live (revoked, expired or gone), read in `conn`'s transaction."""
        now = now or dt.datetime.now(dt.UTC)
        live = conn.execute(_LIVE_IDS, {"ids": sorted(token_ids), "now": now}).scalars()
        return token_ids - set(live)

    def count_tokens(self) -> int:
        with reading(self.engine) as conn:
            return int(conn.execute(select(func.count()).select_from(tokens)).scalar_one())

    def list_tokens(self, *, include_revoked: bool = True) -> list[TokenRecord]:
        """Every token, newest first (revoked ones too unless `include_revoked` is False)."""
        query = select(tokens).order_by(tokens.c.created_at.desc(), tokens.c.id)
        if not include_revoked:
            query = query.where(tokens.c.revoked.is_(False))
        with reading(self.engine) as conn:
            return [_record(r) for r in conn.execute(query).all()]

    def token_record(self, token_id: str, conn: Connection | None = None) -> TokenRecord | None:
        query = select(tokens).where(tokens.c.id == token_id)
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with reading(self.engine) as c:
                row = c.execute(query).first()
        return _record(row) if row else None

    def token_kinds_of_code(self, publisher_code: str, conn: Connection | None = None) -> set[str]:
        """Kinds of the live tokens carrying `publisher_code` (a code belongs to a department or a business, not both)."""
        query = select(tokens.c.kind).where(tokens.c.publisher_code == publisher_code, tokens.c.revoked.is_(False)).distinct()
        if conn is not None:
            return {str(k) for k in conn.execute(query).scalars()}
        with reading(self.engine) as c:
            return {str(k) for k in c.execute(query).scalars()}

    def revoke_token(self, token_id: str, conn: Connection | None = None) -> TokenRecord | None:
        """Revoke a token (idempotent: an already revoked one keeps its first revocation time); None if unknown."""
        if conn is None:
            with self.engine.begin() as c:
                return self.revoke_token(token_id, c)
        conn.execute(update(tokens).where(tokens.c.id == token_id, tokens.c.revoked.is_(False))
                     .values(revoked=True, revoked_at=dt.datetime.now(dt.UTC)))
        return self.token_record(token_id, conn)
