"""The console's publications table: newest first, filtered, paged by keyset (fast at any depth).

A page is "the next `limit` publications older than the cursor" (created_at, id), read through the
(created_at, id) index -- or (department, created_at, id) for a department -- so page 5,000 costs what
page 1 costs. No total count: counting 100,000 rows on every page view is what made old back offices slow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, exists, or_, select

from persistence.engine import reading
from persistence.tables import deliveries, publications
from persistence.text_search import like_pattern, text_condition


@dataclass(frozen=True)
class PageFilter:
    department: str | None = None  # publisher code
    channel: str | None = None
    status: str | None = None  # with a channel: that channel's state; else the overall status or any channel's
    kind: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None  # in the title, the 索引号 or the 文号


@dataclass(frozen=True)
class Cursor:
    created_at: dt.datetime
    id: str

    def encode(self) -> str:
        return f"{self.created_at.astimezone(dt.UTC).isoformat()}~{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        if not raw or "~" not in raw:
            return None
        at, _, pub_id = raw.partition("~")
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            return None
        return cls(when if when.tzinfo else when.replace(tzinfo=dt.UTC), pub_id[:40])


def publications_page(engine: Engine, flt: PageFilter, cursor: Cursor | None, limit: int = 50
                      ) -> tuple[list[Any], dict[str, dict[str, Any]], Cursor | None]:
    """(rows, deliveries by publication id then channel, cursor of the next page or None)."""
    p = publications.c
    query = select(p.id, p.title, p.kind, p.department, p.index_no, p.doc_no, p.status, p.channels, p.version,
                   p.created_at, p.publish_date, p.retracted)
    conds = []
    if flt.department:
        conds.append(p.department == flt.department)
    if flt.kind:
        conds.append(p.kind == flt.kind)
    if flt.since:
        conds.append(p.created_at >= flt.since)
    if flt.until:
        conds.append(p.created_at < flt.until)
    if flt.channel:
        conds.append(p.channels.like(like_pattern(f'"{flt.channel}"'), escape="\\"))
    if flt.status:
        d = deliveries.c
        in_channel = and_(d.publication_id == p.id, d.status == flt.status)
        if flt.channel:
            conds.append(exists().where(in_channel, d.channel == flt.channel))
        else:
            conds.append(or_(p.status == flt.status, exists().where(in_channel)))
    if cursor is not None:
        conds.append(or_(p.created_at < cursor.created_at, and_(p.created_at == cursor.created_at, p.id < cursor.id)))
    with reading(engine) as conn:
        if flt.text and flt.text.strip():
            conds.append(text_condition(conn, flt.text.strip()))  # from the trigram index (text_search.py)
        query = query.where(*conds).order_by(p.created_at.desc(), p.id.desc()).limit(limit + 1)
        found: list[Any] = list(conn.execute(query).all())
        more = len(found) > limit
        rows = found[:limit]
        states: dict[str, dict[str, Any]] = {r.id: {} for r in rows}
        if rows:
            for row in conn.execute(select(deliveries).where(deliveries.c.publication_id.in_(list(states)))).all():
                states[row.publication_id][row.channel] = row
    return rows, states, Cursor(rows[-1].created_at, rows[-1].id) if more else None
