"""Live chips: Server-Sent Events of delivery changes, so a status change shows without a reload.

The page renders at time T and tells its script T; the stream then sends every channel delivery and
publication status changed after T (a department's stream: its own publications only), polling the
store once a second -- cheap through the updated_at index, and the same on every host. A delivery's
updated_at is its event's time, which may be projected a little later: each poll looks LOOKBACK back
and sends only what it has not sent yet.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from persistence.engine import reading
from persistence.sessions import Session
from persistence.store import StatusStore
from persistence.tables import deliveries, publications
from producers.console.web import STATUS_LABELS, LoginRequired, SessionDep, current_session

router = APIRouter()
POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
LOOKBACK = dt.timedelta(seconds=60)
RECHECK_SESSION_SECONDS = 30.0


def changes(store: StatusStore, session: Session, since: dt.datetime) -> tuple[list[dict[str, str]], dt.datetime]:
    d, p = deliveries.c, publications.c
    query = select(d.publication_id, d.channel, d.status, d.detail, d.updated_at).where(d.updated_at > since)
    overall = select(p.id, p.status, p.updated_at).where(p.updated_at > since)
    if session.kind == "department":
        query = query.join(publications, p.id == d.publication_id).where(p.department == session.publisher_code)
        overall = overall.where(p.department == session.publisher_code)
    with reading(store.engine) as conn:
        rows = conn.execute(query.order_by(d.updated_at).limit(500)).all()
        pubs = conn.execute(overall.order_by(p.updated_at).limit(500)).all()
    out = [{"pub": r.publication_id, "channel": r.channel, "status": r.status,
            "label": STATUS_LABELS.get(r.status, r.status), "detail": (r.detail or "")[:300]} for r in rows]
    out += [{"pub": r.id, "channel": "", "status": r.status, "label": STATUS_LABELS.get(r.status, r.status),
             "detail": ""} for r in pubs]
    latest = max([since, *(r.updated_at for r in rows), *(r.updated_at for r in pubs)])
    return out, latest


def _still_live(request: Request) -> bool:
    try:
        current_session(request)
    except LoginRequired:
        return False
    return True


def _since(raw: str | None) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(raw or "")
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    except ValueError:
        return dt.datetime.now(dt.UTC)


@router.get("/events")
async def events(request: Request, session: SessionDep, since: str = "") -> StreamingResponse:
    store: StatusStore = request.app.state.store
    cursor = _since(since)

    async def stream() -> AsyncIterator[str]:
        nonlocal cursor
        yield "retry: 3000\n\n"
        quiet = alive = 0.0
        sent: dict[tuple[str, str], str] = {}
        while not await request.is_disconnected():
            found, latest = await asyncio.to_thread(changes, store, session, cursor - LOOKBACK)
            fresh = [c for c in found if sent.get((c["pub"], c["channel"])) != c["status"]]
            for change in fresh:
                sent[(change["pub"], change["channel"])] = change["status"]
                yield f"event: status\ndata: {json.dumps(change, ensure_ascii=False)}\n\n"
            cursor = max(cursor, latest)
            quiet = 0.0 if fresh else quiet + POLL_SECONDS
            alive += POLL_SECONDS
            if alive >= RECHECK_SESSION_SECONDS:  # a logged-out or revoked session stops hearing news
                alive = 0.0
                if not await asyncio.to_thread(_still_live, request):
                    return
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
