"""Publications: the table (filters, keyset pages, a live chip per channel) and one publication's detail."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from persistence.listing import Cursor, PageFilter, publications_page
from persistence.store import StatusStore
from processors.screen import screen
from producers.console.renditions import renditions
from producers.console.web import CHANNEL_LABELS, CST, KIND_LABELS, STATUS_LABELS, SessionDep, page, settings_of
from producers.directory import directory
from producers.errors import NotFound
from schemas.publication import Publication

router = APIRouter()
PAGE_SIZE = 50
Text = Annotated[str, Query(max_length=100)]


def _day(value: str, *, end: bool = False) -> dt.datetime | None:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), tzinfo=CST)


@router.get("/publications", response_class=HTMLResponse)
def publications(request: Request, session: SessionDep, department: Text = "", channel: Text = "", status: Text = "",
                 kind: Text = "", since: Text = "", until: Text = "", q: Text = "", after: Text = "") -> HTMLResponse:
    store: StatusStore = request.app.state.store
    settings = settings_of(request)
    own = session.publisher_code if session.kind == "department" else None
    flt = PageFilter(department=own or department or None, channel=channel if channel in settings.channels else None,
                     status=status if status in STATUS_LABELS else None, kind=kind if kind in KIND_LABELS else None,
                     since=_day(since), until=_day(until, end=True), text=q.strip() or None)
    rows, states, next_cursor = publications_page(store.engine, flt, Cursor.decode(after), PAGE_SIZE)
    query = {k: v for k, v in dict(department=department, channel=channel, status=status, kind=kind, since=since,
                                   until=until, q=q).items() if v}
    return page(request, "publications.html", rows=rows, states=states, channels=settings.channels,
                row_channels={r.id: json.loads(r.channels) for r in rows}, query=query,
                next_after=next_cursor.encode() if next_cursor else None, first_page=not after,
                statuses=STATUS_LABELS, kinds=KIND_LABELS, channel_names=CHANNEL_LABELS, department_locked=bool(own))


@router.get("/publications/{publication_id}", response_class=HTMLResponse)
def detail(request: Request, publication_id: str, session: SessionDep) -> HTMLResponse:
    store: StatusStore = request.app.state.store
    settings = settings_of(request)
    row = store.publication_row(publication_id[:40])
    if row is None or (session.kind == "department" and row.department != session.publisher_code):
        raise NotFound(f"no publication {publication_id!r}")  # others' items do not exist for a department
    pub = Publication.model_validate_json(row.doc)
    channels = json.loads(row.channels)
    deliveries = store.deliveries_of(pub.id)
    campaign = None
    if "push" in deliveries:
        campaign = directory(request, store).summary(pub.id, pub.version)
    letters = store.dead_letters(publication_id=pub.id) if session.kind == "operator" else []
    return page(request, "detail.html", row=row, pub=pub, channels=channels, deliveries=deliveries,
                timeline=list(reversed(store.timeline_of(pub.id))), findings=screen(pub) if row.status == "held" else [],
                renditions=renditions(pub, channels, settings), campaign=campaign, letters=letters)
