"""Which publications reach their 有效期至 when: one row per publication in force that has one."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, bindparam, delete, insert, select

from persistence.engine import at_batch_end
from persistence.tables import expiries
from schemas.publication import Publication, Validity

_DROP = delete(expiries).where(expiries.c.publication_id == bindparam("publication_id"))  # built once: per submission
_ADD = insert(expiries)


def schedule(conn: Connection, pub: Publication, *, new: bool = False) -> None:
    """Keep the row of `pub` in step with its current version (in the transaction that records it).

    `new`: `pub` was just created, so it has no row to replace yet (a submission saves a statement; inside a
    group-commit batch its row goes in with the batch's others, at its end)."""
    if not new:
        conn.execute(_DROP, {"publication_id": pub.id})
    if pub.expiry_date is not None and pub.validity is Validity.valid and not pub.retracted:
        row = {"publication_id": pub.id, "expires_on": pub.expiry_date}
        if not (new and at_batch_end(conn, _add, row)):
            _add(conn, [row])


def _add(conn: Connection, rows: list[dict[str, object]]) -> None:
    conn.execute(_ADD, rows)


def due(conn: Connection, today: dt.date) -> list[str]:
    """Publications whose last day in force is before `today`."""
    return list(conn.execute(select(expiries.c.publication_id).where(expiries.c.expires_on < today)
                             .order_by(expiries.c.expires_on, expiries.c.publication_id)).scalars())


def drop(conn: Connection, publication_id: str) -> None:
    conn.execute(delete(expiries).where(expiries.c.publication_id == publication_id))
