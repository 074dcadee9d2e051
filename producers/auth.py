"""Bearer tokens: departments publish with theirs, operators oversee with theirs, businesses manage their push record.

A token is shown once, when created; the store keeps only its SHA-256, and a
request's principal is found by hashing the presented token -- on every request,
so a revoked or expired token is refused at once on every node (submissions take
it from `TokenCache`, and their commit checks the token again). Tokens never go
into logs or error messages.

The three kinds are not interchangeable: what a principal may do depends on its
kind first, and only then on its code (a business's credit code never opens a
department's publications).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from typing import Literal

from persistence import audit
from persistence.ratelimit import FailedGuesses, retry_after_header
from persistence.store import Principal, StatusStore, TokenRecord
from producers.errors import TooManyRequests, Unauthorized
from schemas.vocab import PUBLISHER_CODE_RE, credit_code_checksum_ok

TOKEN_PREFIX = "gct_"
PrincipalKind = Literal["department", "operator", "business"]
KINDS: tuple[PrincipalKind, ...] = ("department", "operator", "business")
_CST = dt.timezone(dt.timedelta(hours=8), "CST")
_DURATION = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
MAX_LIFETIME = dt.timedelta(days=3660)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_expiry(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """`90d`, `12h`, `30m` from now, or an ISO date (valid through that Beijing day) or datetime (Beijing if no zone)."""
    now = now or utcnow()
    text = text.strip()
    if match := _DURATION.match(text):
        amount, unit = int(match[1]), _UNITS[match[2]]
        return check_expiry(now + dt.timedelta(**{unit: amount}), now)
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), _CST)
        else:
            moment = dt.datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise ValueError(f"expiry {text!r}: give a duration (90d, 12h, 30m), a date (2026-12-31) "
                         "or a datetime (2026-12-31T18:00:00+08:00)") from None
    return check_expiry(moment if moment.tzinfo else moment.replace(tzinfo=_CST), now)


def check_expiry(expires_at: dt.datetime, now: dt.datetime | None = None) -> dt.datetime:
    now = now or utcnow()
    if expires_at.tzinfo is None:
        raise ValueError("the expiry needs a time zone")
    if expires_at <= now:
        raise ValueError("the expiry is not in the future")
    if expires_at - now > MAX_LIFETIME:
        raise ValueError("the expiry is more than 10 years away; leave it out for a token valid until revoked")
    return expires_at.astimezone(dt.UTC)


def check_token_request(store: StatusStore, kind: str, name: str, publisher_code: str | None) -> tuple[str, str | None]:
    """The cleaned (name, code) of a token request, or ValueError naming the nonsense."""
    if kind not in KINDS:
        raise ValueError(f"kind must be 'department', 'operator' or 'business', not {kind!r}")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise ValueError("name must be 1 to 100 characters")
    if kind == "operator":
        if publisher_code:
            raise ValueError("operator tokens act for every department and take no publisher code")
        return name, None
    code = (publisher_code or "").strip().upper()
    if kind == "department" and not PUBLISHER_CODE_RE.match(code):
        raise ValueError(
            "a department token needs a publisher code (18-char unified social credit code or 9-char organization code)"
        )
    if kind == "business" and not credit_code_checksum_ok(code):
        raise ValueError("a business token needs the business's unified social credit code (GB 32100)")
    other = "business" if kind == "department" else "department"
    if other in store.token_kinds_of_code(code):
        raise ValueError(f"{code} already belongs to a {other} token; a code is a department's or a business's, "
                         "never both (revoke the other token first if it was a mistake)")
    return name, code


def new_token(store: StatusStore, kind: PrincipalKind | str, name: str, publisher_code: str | None = None,
              *, expires_at: dt.datetime | None = None, actor: Principal | None = None) -> str:
    """Create a principal with a fresh token; returns the secret (the only time it exists in clear).

    `actor`: the operator creating it (None: the local command line); the audit trail names it."""
    return issue_token(store, kind, name, publisher_code, expires_at=expires_at, actor=actor)[1]


def issue_token(store: StatusStore, kind: PrincipalKind | str, name: str, publisher_code: str | None = None,
                *, expires_at: dt.datetime | None = None, actor: Principal | None = None) -> tuple[TokenRecord, str]:
    """`new_token` that also answers the stored record (id, expiry) for listings and API answers."""
    name, code = check_token_request(store, kind, name, publisher_code)
    if expires_at is not None:
        expires_at = check_expiry(expires_at)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    principal = Principal(id="prn_" + secrets.token_hex(8), kind=kind, name=name, publisher_code=code)
    with store.transaction() as conn:
        store.add_token(principal, hash_token(token), expires_at=expires_at, conn=conn)
        record = store.token_record(principal.id, conn)
        audit.record(conn, actor, "token.create", principal.id, {"kind": kind, "name": name, "publisher_code": code,
                                                                 "expires_at": expires_at})
    assert record is not None
    return record, token


def list_tokens(store: StatusStore, *, include_revoked: bool = True) -> list[TokenRecord]:
    return store.list_tokens(include_revoked=include_revoked)


def revoke_token(store: StatusStore, token_id: str, *, actor: Principal | None = None) -> TokenRecord | None:
    """Revoke a token by id (from `list_tokens`); None when there is no such token. Takes effect on the next request.

    `actor`: the operator revoking it (None: the local command line)."""
    with store.transaction() as conn:
        before = store.token_record(token_id, conn)
        record = store.revoke_token(token_id, conn)
        if before is not None and before.revoked_at is None:
            audit.record(conn, actor, "token.revoke", token_id, {"kind": before.kind, "name": before.name})
        return record


def actor_of(principal: Principal) -> str:
    """How a person's action is signed on a publication's timeline."""
    return f"{principal.name} ({'操作员' if principal.kind == 'operator' else '部门'})"


def authenticate(store: StatusStore, token: str | None) -> Principal:
    """The principal a bearer token belongs to; Unauthorized when missing, unknown, revoked or expired."""
    if not token:
        raise Unauthorized("send `Authorization: Bearer <token>`; ask an operator for a token (`govcast token create`)")
    principal = store.principal_for(hash_token(token))
    if principal is None:
        raise Unauthorized("the bearer token is not valid (unknown, revoked or expired)")
    return principal


def authenticate_client(store: StatusStore, token: str | None, guesses: FailedGuesses | None, client: str | None,
                        *, lookup: Callable[[StatusStore, str | None], Principal] = authenticate) -> Principal:
    """`authenticate` (or `lookup`), counting invalid tokens against the client's address: TooManyRequests once
    it has guessed too often (the token then is not even looked up), Unauthorized before that."""
    if not token or guesses is None or not client:
        return lookup(store, token)
    if wait := guesses.blocked_for(client):
        raise _too_many_guesses(wait)
    try:
        return lookup(store, token)
    except Unauthorized:
        if wait := guesses.failed(client):
            raise _too_many_guesses(wait) from None
        raise


def _too_many_guesses(wait: float) -> TooManyRequests:
    return TooManyRequests(f"too many requests with invalid tokens from this address; retry after {wait:.1f} s",
                           retry_after_header(wait))


class TokenCache:
    """Principals of tokens seen live before, by token hash: submissions skip the store lookup.

    Only for writes that go through the group commit, which checks every cached principal
    in the commit's own transaction (persistence.group_commit): a token revoked on any node
    is refused there, before anything is written, and dropped from the cache. Expiry is
    checked here as well as there. Unknown tokens are never cached (each costs a lookup).
    """

    MAX_ENTRIES = 10_000

    def __init__(self, store: StatusStore) -> None:
        self.store = store
        self._entries: dict[str, tuple[Principal, dt.datetime | None]] = {}

    def lookup(self, token: str | None, guesses: FailedGuesses | None = None, client: str | None = None) -> Principal | None:
        """The cached principal of `token` while it has not expired; None: ask `authenticate_fresh` (also when
        `client` is blocked for guessing: a right guess must look like a wrong one, cached or not)."""
        if not token or (guesses is not None and client and guesses.blocked_for(client)):
            return None
        entry = self._entries.get(hash_token(token))
        if entry is None:
            return None
        principal, expires_at = entry
        return principal if expires_at is None or expires_at > utcnow() else None

    def authenticate_fresh(self, token: str | None, guesses: FailedGuesses | None = None,
                           client: str | None = None) -> Principal:
        """`authenticate_client` against the store, remembering a live token's principal (blocking: a store read)."""
        return authenticate_client(self.store, token, guesses, client, lookup=self._remembering)

    def _remembering(self, store: StatusStore, token: str | None) -> Principal:
        if not token:
            return authenticate(store, token)
        token_hash = hash_token(token)
        found = store.live_token(token_hash)
        if found is None:
            self._entries.pop(token_hash, None)
            raise Unauthorized("the bearer token is not valid (unknown, revoked or expired)")
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[token_hash] = found
        return found[0]

    def forget(self, principal_id: str) -> None:
        """Drop every cached token of `principal_id` (its commit found it revoked or expired)."""
        for token_hash, (principal, _) in list(self._entries.items()):
            if principal.id == principal_id:
                self._entries.pop(token_hash, None)


def may_see_department(principal: Principal, department: str) -> bool:
    """Publications of `department` are visible to operators and to that department's own tokens, no one else."""
    if principal.kind == "operator":
        return True
    return principal.kind == "department" and principal.publisher_code is not None and principal.publisher_code == department
