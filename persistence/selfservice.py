"""The subscription center's state: confirmations (double opt-in, takeover checks, manage codes), send rate
limits, each business's change history, and what survives a deletion (counts only).

A confirmation is one email link or one 6-digit SMS code. Only an HMAC of its secret is stored (keyed with an
installation secret, so a leaked table does not let anyone brute-force six digits offline); it expires, is used
once, and dies after `MAX_ATTEMPTS` wrong tries. `doc` carries the record the business asked for (sign-up, or a
change to an existing record), applied only when the confirmation succeeds. That record holds contacts in clear,
so it goes as soon as the confirmation is used or locked, and the whole row `KEPT_AFTER_EXPIRY` after it expired
(a sign-up nobody confirms leaves nothing behind; until then a late click is told "expired", not "unknown").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Connection, Index, Integer, String, Table, Text, delete, func, insert, select, update

from persistence.audit import Actor
from persistence.push_recipients import recipients, utcnow
from persistence.subscribers import SubscriberStore, subscribers
from persistence.tables import UTCDateTime, metadata
from persistence.tokens import Principal
from schemas.subscriber import Subscriber

confirmations = Table(
    "push_confirmations",
    metadata,
    Column("id", String(32), primary_key=True),  # public reference (in the code form's URL); not the secret
    Column("credit_code", String(18), nullable=False, index=True),
    Column("purpose", String(10), nullable=False),  # signup | change | manage
    Column("channel", String(10), nullable=False),  # email (link) | sms (code)
    Column("secret_mac", String(64), nullable=False),
    Column("doc", Text),  # JSON of the requested schemas.subscriber.Subscriber (signup, change)
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", UTCDateTime()),
)

sends = Table(  # one row per confirmation sent, per limited key (address, client IP); old rows are pruned
    "push_confirmation_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False),  # sha256 of "address:…" / "ip:…": no contact data in clear
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_push_confirmation_sends_key", "key", "at"),
)

history = Table(  # what a business (or an operator) changed and when; no contact data in the text
    "push_subscriber_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("credit_code", String(18), nullable=False, index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(20), nullable=False),  # business | operator
    Column("change", Text, nullable=False),
)

tallies = Table(  # what is left of deleted subscriptions: counts, nothing about who
    "push_directory_tallies",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("n", Integer, nullable=False),
)

MAX_ATTEMPTS = 5
LINK_TTL = dt.timedelta(hours=24)
CODE_TTL = dt.timedelta(minutes=10)
KEPT_AFTER_EXPIRY = dt.timedelta(days=2)  # then the row goes too (what answers "expired" rather than "unknown")


class Outcome(StrEnum):
    confirmed = "confirmed"
    wrong = "wrong"  # a wrong code; attempts left
    locked = "locked"  # too many wrong codes
    expired = "expired"
    used = "used"
    unknown = "unknown"


@dataclass(frozen=True)
class Redeemed:
    outcome: Outcome
    credit_code: str = ""
    purpose: str = ""
    channel: str = ""
    doc: str | None = None
    attempts_left: int = 0


@dataclass(frozen=True)
class RateLimit:
    per_address: int = 5  # confirmations per address (email or mobile) per window
    per_ip: int = 20  # confirmations requested from one client address per window
    window: dt.timedelta = dt.timedelta(hours=1)


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value.strip().lower()}".encode()).hexdigest()


class SelfService:
    def __init__(self, directory: SubscriberStore, limits: RateLimit = RateLimit()) -> None:
        self.directory = directory
        self.engine = directory.engine
        self.limits = limits
        self._mac_key: bytes | None = None

    def _mac(self, ref: str, secret: str) -> str:
        """(Never called inside a transaction: the first call reads the key in a write transaction of its own.)"""
        if self._mac_key is None:
            self._mac_key = self.directory.secret("confirmations").encode()
        return hmac.new(self._mac_key, f"{ref}:{secret}".encode(), hashlib.sha256).hexdigest()

    # -- confirmations ---------------------------------------------------------------
    def begin(self, credit_code: str, purpose: str, channel: str, doc: str | None = None,
              now: dt.datetime | None = None) -> tuple[str, str]:
        """A new confirmation: (reference, secret). The secret is a 6-digit code for SMS, a link token for email."""
        now = now or utcnow()
        ref = secrets.token_urlsafe(12)
        secret = f"{secrets.randbelow(10 ** 6):06d}" if channel == "sms" else secrets.token_urlsafe(24)
        mac = self._mac(ref, secret)
        with self.engine.begin() as conn:
            conn.execute(delete(confirmations).where(confirmations.c.expires_at < now - KEPT_AFTER_EXPIRY))
            conn.execute(insert(confirmations).values(
                id=ref, credit_code=credit_code, purpose=purpose, channel=channel, secret_mac=mac,
                doc=doc, created_at=now, expires_at=now + (CODE_TTL if channel == "sms" else LINK_TTL), attempts=0))
        return ref, secret

    def redeem(self, ref: str, secret: str, now: dt.datetime | None = None) -> Redeemed:
        """Use a confirmation once; a wrong secret spends one of MAX_ATTEMPTS tries."""
        now = now or utcnow()
        mac = self._mac(ref, secret.strip())
        with self.engine.begin() as conn:
            row = conn.execute(select(confirmations).where(confirmations.c.id == ref).with_for_update()).first()
            if row is None:
                return Redeemed(Outcome.unknown)
            if row.used_at is not None:
                return Redeemed(Outcome.used, row.credit_code, row.purpose, row.channel)
            if row.attempts >= MAX_ATTEMPTS:
                return Redeemed(Outcome.locked, row.credit_code, row.purpose, row.channel)
            if now >= row.expires_at:
                return Redeemed(Outcome.expired, row.credit_code, row.purpose, row.channel)
            if not hmac.compare_digest(row.secret_mac, mac):
                attempts = row.attempts + 1
                outcome = Outcome.locked if attempts >= MAX_ATTEMPTS else Outcome.wrong
                dead = {"doc": None} if outcome is Outcome.locked else {}
                conn.execute(update(confirmations).where(confirmations.c.id == ref).values(attempts=attempts, **dead))
                return Redeemed(outcome, row.credit_code, row.purpose, row.channel, attempts_left=MAX_ATTEMPTS - attempts)
            conn.execute(update(confirmations).where(confirmations.c.id == ref).values(used_at=now, doc=None))
        return Redeemed(Outcome.confirmed, row.credit_code, row.purpose, row.channel, row.doc)

    def peek(self, ref: str) -> Any:
        """The confirmation row (to show its page), or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(confirmations).where(confirmations.c.id == ref)).first()

    # -- rate limits -------------------------------------------------------------------
    def allow_send(self, address: str, client_ip: str, now: dt.datetime | None = None) -> bool:
        """Whether one more confirmation may go to `address` for `client_ip`; counts it when it may."""
        now = now or utcnow()
        keys = {_key("address", address): self.limits.per_address, _key("ip", client_ip): self.limits.per_ip}
        since = now - self.limits.window
        with self.engine.begin() as conn:
            conn.execute(delete(sends).where(sends.c.at < now - dt.timedelta(days=2)))
            counts: dict[str, int] = dict(conn.execute(select(sends.c.key, func.count()).where(
                sends.c.key.in_(list(keys)), sends.c.at >= since).group_by(sends.c.key)).all())
            if any(counts.get(key, 0) >= limit for key, limit in keys.items()):
                return False
            conn.execute(insert(sends), [{"key": key, "at": now} for key in keys])
        return True

    # -- history ---------------------------------------------------------------------------
    def set_paused(self, credit_code: str, paused: bool, actor: Principal | Actor, reason: str = "",
                   who: str = "管理员") -> Subscriber | None:
        """An operator pauses or resumes every push to a business: the change, its audit entry and the line in the
        business's own 变更记录 (naming `who`) are one transaction, so neither is kept without the other."""

        def history_line(conn: Connection) -> None:
            conn.execute(insert(history).values(credit_code=credit_code, at=utcnow(), actor=who,
                                                change="暂停全部推送" if paused else "恢复推送"))

        return self.directory.set_paused(credit_code, paused, actor, reason, also=history_line)

    def record(self, credit_code: str, change: str, actor: str = "business", now: dt.datetime | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(history).values(credit_code=credit_code, at=now or utcnow(), actor=actor, change=change))

    def history(self, credit_code: str, limit: int = 50) -> list[tuple[dt.datetime, str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(history.c.at, history.c.actor, history.c.change)
                                .where(history.c.credit_code == credit_code)
                                .order_by(history.c.id.desc()).limit(limit)).all()
        return [(r.at, r.actor, r.change) for r in rows]

    # -- deletion ------------------------------------------------------------------------------
    def erase(self, credit_code: str, actor: Actor | None = None) -> bool:
        """Delete a business's subscription with its contacts, pushes and history; only counts remain
        (campaign totals, and the number of deleted subscriptions)."""
        gone = self.directory.delete(credit_code, actor)
        with self.engine.begin() as conn:
            for table in (recipients, confirmations, history):
                conn.execute(delete(table).where(table.c.credit_code == credit_code))
            if gone:
                stmt = self.directory._insert(tallies).values(name="deleted_by_business", n=1)
                conn.execute(stmt.on_conflict_do_update(index_elements=[tallies.c.name], set_={"n": tallies.c.n + 1}))
        return gone

    def tallies(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {name: int(n) for name, n in conn.execute(select(tallies.c.name, tallies.c.n)).all()}

    def exists(self, credit_codes: Sequence[str]) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(subscribers.c.credit_code)
                                    .where(subscribers.c.credit_code.in_(list(credit_codes)))).scalars())
