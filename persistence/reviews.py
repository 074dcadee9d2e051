"""New-media copies waiting for an editor (status `awaiting_review` in `deliveries`): the list, and the claim an
approval or a rejection makes.

The projection is the one writer of `deliveries`, except for this claim: approving or rejecting moves the copy out
of `awaiting_review` in the decision's own transaction, so of two editors deciding at once exactly one wins (the
other gets a conflict) and a copy is never queued twice. The claim locks the publication's row first, as the
projection does (PostgreSQL; SQLite lets one writer in at a time), so neither overwrites the other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update

from persistence.engine import reading
from persistence.tables import deliveries, publications

AWAITING = "awaiting_review"


@dataclass(frozen=True)
class Awaiting:
    publication_id: str
    channel: str
    version: int
    title: str
    department: str
    index_no: str
    since: dt.datetime


def awaiting_reviews(engine: Engine, *, department: str | None = None, limit: int = 200) -> list[Awaiting]:
    """Copies waiting for an editor, oldest first (a department's own only, when named)."""
    query = (select(deliveries.c.publication_id, deliveries.c.channel, deliveries.c.version, deliveries.c.updated_at,
                    publications.c.title, publications.c.department, publications.c.index_no)
             .join(publications, publications.c.id == deliveries.c.publication_id)
             .where(deliveries.c.status == AWAITING, deliveries.c.version == publications.c.version,
                    publications.c.retracted.is_(False)))
    if department is not None:
        query = query.where(publications.c.department == department)
    with reading(engine) as conn:
        rows = conn.execute(query.order_by(deliveries.c.updated_at, deliveries.c.publication_id).limit(limit)).all()
    return [Awaiting(r.publication_id, r.channel, r.version, r.title, r.department, r.index_no, r.updated_at)
            for r in rows]


def claim_review(conn: Connection, publication_id: str, channel: str, version: int, status: str,
                 detail: str, now: dt.datetime) -> bool:
    """Move the copy of `version` on `channel` from awaiting_review to `status`; False when it is not waiting
    (decided already, revised, retracted)."""
    locked = select(publications.c.version).where(publications.c.id == publication_id, publications.c.retracted.is_(False))
    row = conn.execute(locked.with_for_update() if conn.dialect.name == "postgresql" else locked).first()
    if row is None or row.version != version:
        return False
    done = conn.execute(update(deliveries).where(
        deliveries.c.publication_id == publication_id, deliveries.c.channel == channel,
        deliveries.c.version == version, deliveries.c.status == AWAITING,
    ).values(status=status, detail=detail, updated_at=now))
    return done.rowcount == 1
