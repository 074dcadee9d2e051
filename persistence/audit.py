"""The audit trail: an append-only, hash-chained record of every human (and command-line) action.

`record(conn, actor, action, target, detail)` is the one call an action makes, inside the
store transaction of the action itself: the action and its audit row commit together or
not at all. Each row carries the hash of the row before it (`prev_hash`) and its own hash
over its content and `prev_hash`, so editing a row breaks its own hash and deleting one
breaks the link of the next; `verify` walks the chain and names the first such row. (Cutting
rows off the end leaves a shorter valid chain: keep the head hash `verify` prints somewhere
else, e.g. in the operations log, to notice that too.)

Appends are serialized (PostgreSQL: a transaction-scoped advisory lock; SQLite: its single
writer) so the chain has one order. Call `record` last in the action's transaction: the lock
is held until commit. Inside a group-commit batch (persistence.group_commit) the rows of all the
batch's units are appended together at its end (`at_batch_end`): one lock, one read of the head,
one insert, right before the commit -- other API processes wait for the chain that long only.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from persistence.engine import advisory_lock, at_batch_end, reading
from persistence.tables import audit_log
from persistence.tokens import Principal

GENESIS = "0" * 64
_LOCK = "govcast/audit-chain"
_LONG = 200  # longer texts go into a diff by length and hash, not in full
# Built once, run with parameters: every submission appends a row (building statements cost more than running them).
_LAST_HASH = select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_APPEND = insert(audit_log)


@dataclass(frozen=True)
class Actor:
    id: str
    name: str
    kind: str
    client: str | None = None


def actor_of(principal: Principal | Actor | None) -> Actor:
    """Who acted: a token's principal (with the request's client address), or the local command line."""
    if isinstance(principal, Actor):
        return principal
    if principal is None:
        user = _os_user()
        return Actor(id=f"cli:{user}", name=user, kind="cli")
    return Actor(id=principal.id, name=principal.name, kind=principal.kind, client=principal.client)


def _os_user() -> str:
    try:
        return getpass.getuser()[:30]
    except (OSError, KeyError):
        return "unknown"


# `json.dumps(…)` with these options, the encoder built once (dumps builds one per call for non-default options)
_DETAIL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _row_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    canonical = _CANONICAL_JSON.encode({k: fields[k] for k in sorted(fields)})
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _hashed_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    at = row["at"]
    at_text = (at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)).isoformat(timespec="microseconds")
    return {"at": at_text, "actor_id": row["actor_id"], "actor_name": row["actor_name"], "actor_kind": row["actor_kind"],
            "action": row["action"], "target": row["target"], "detail": row["detail"], "client": row["client"]}


def record(conn: Connection, actor: Principal | Actor | None, action: str, target: str,
           detail: Mapping[str, Any] | None = None, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Append one audit row in `conn`'s transaction (which is the action's own); the row (one queued for the end
    of a group-commit batch may still be changed until then: producers.numbering)."""
    who = actor_of(actor)
    row = {"at": (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC),
           "actor_id": who.id[:40], "actor_name": who.name[:100], "actor_kind": who.kind[:20], "action": action[:40],
           "target": target[:60], "detail": _DETAIL_JSON.encode(dict(detail or {})),
           "client": (who.client or None) and who.client[:64]}
    if not at_batch_end(conn, _append, row, takes_shared_lock=True):
        _append(conn, [row])
    return row


def _append(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Chain `rows` onto the head, in order, in one insert (the lock stays held to the commit)."""
    advisory_lock(conn, _LOCK)
    prev_hash = conn.execute(_LAST_HASH).scalar() or GENESIS
    chained = []
    for row in rows:
        row_hash = _row_hash(prev_hash, _hashed_fields(row))
        chained.append({**row, "prev_hash": prev_hash, "hash": row_hash})
        prev_hash = row_hash
    conn.execute(_APPEND, chained)


def record_now(engine: Engine, actor: Principal | Actor | None, action: str, target: str,
               detail: Mapping[str, Any] | None = None) -> None:
    """`record` in a transaction of its own, for actions that have none (prefer `record` inside the action's)."""
    with engine.begin() as conn:
        record(conn, actor, action, target, detail)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed between two JSON-able records: {field: {"from": …, "to": …}}; long texts by length and hash."""
    out: dict[str, Any] = {}
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        out[key] = {"from": _short(before), "to": _short(after)}
    return out


def _short(value: Any) -> Any:
    text = value if isinstance(value, str) else None
    if text is not None and len(text) > _LONG:
        return {"chars": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}
    if isinstance(value, list | dict) and len(json.dumps(value, ensure_ascii=False, default=str)) > _LONG:
        blob = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        return {"items": len(value), "sha256": hashlib.sha256(blob.encode()).hexdigest()[:16]}
    return value


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # token id
    target: str | None = None  # publication id, token id, credit code
    action: str | None = None  # exact action, or a prefix ending in "." (publication.)
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before_seq: int | None = None  # keyset paging: entries older than this
    limit: int = 50


def entries(engine: Engine, flt: AuditFilter) -> list[dict[str, Any]]:
    """Audit entries matching `flt`, newest first."""
    query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(flt.limit)
    if flt.actor:
        query = query.where(audit_log.c.actor_id == flt.actor)
    if flt.target:
        query = query.where(audit_log.c.target == flt.target)
    if flt.action:
        column = audit_log.c.action
        query = query.where(column.startswith(flt.action, autoescape=True) if flt.action.endswith(".") else column == flt.action)
    if flt.since:
        query = query.where(audit_log.c.at >= flt.since)
    if flt.until:
        query = query.where(audit_log.c.at < flt.until)
    if flt.before_seq:
        query = query.where(audit_log.c.seq < flt.before_seq)
    with reading(engine) as conn:
        rows = conn.execute(query).all()
    return [{"seq": r.seq, "at": r.at, "actor": {"id": r.actor_id, "name": r.actor_name, "kind": r.actor_kind},
             "action": r.action, "target": r.target, "detail": json.loads(r.detail), "client": r.client, "hash": r.hash}
            for r in rows]


@dataclass(frozen=True)
class Verdict:
    entries: int
    head: str  # hash of the last entry (GENESIS when empty): keep it elsewhere to notice cut-off tails
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems


def _rows(conn: Connection, batch: int = 5000) -> Iterator[Any]:
    after = 0
    while True:
        rows = conn.execute(select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def verify(engine: Engine) -> Verdict:
    """Walk the chain: every row's hash must match its content, and its prev_hash the row before it."""
    problems: list[str] = []
    count, prev_hash, prev_seq = 0, GENESIS, None
    with reading(engine) as conn:
        for row in _rows(conn):
            count += 1
            if row.prev_hash != prev_hash:
                where = f"after row {prev_seq}" if prev_seq is not None else "at the start"
                problems.append(f"row {row.seq}: its prev_hash does not match the row before it -- a row {where} was "
                                "deleted or that row was rewritten")
            if _row_hash(row.prev_hash, _hashed_fields(row._mapping)) != row.hash:
                problems.append(f"row {row.seq}: its content does not match its hash -- the row was edited "
                                f"({row.action} {row.target} at {row.at})")
            prev_hash, prev_seq = row.hash, row.seq
    return Verdict(entries=count, head=prev_hash, problems=problems)
