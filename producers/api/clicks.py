"""`/go/{publication_id}` and `/s/{code}`: the portal link in push messages (email, WeChat; SMS by its short
code, adapters/push/short_links.py), counting clicks.

Only a count per publication and push channel is kept — nothing about who clicked (the link is the
same for every recipient, no cookie, no IP). The target is looked up, never taken from the URL, so
this is not an open redirect.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from adapters.push.short_links import resolve
from persistence.ledger import Ledger
from persistence.store import StatusStore
from producers.api.deps import StoreDep
from producers.directory import directory
from producers.errors import NotFound
from producers.problems import problem_docs
from schemas.subscriber import PushChannel

router = APIRouter(tags=["subscribers"])
CHANNELS = frozenset(c.value for c in PushChannel)


@router.get("/go/{publication_id}", status_code=302, response_class=RedirectResponse,
            summary="Portal link of push messages (counts clicks, nobody's identity)", responses=problem_docs(404))
async def go(publication_id: Annotated[str, Path(max_length=40)], request: Request, store: StoreDep,
             c: Annotated[str, Query(max_length=20, description="the push channel the link came by")] = "") -> RedirectResponse:
    return await _redirect(publication_id, c, request, store)


@router.get("/s/{code}", status_code=302, response_class=RedirectResponse,
            summary="Short portal link of push SMS (counts clicks, nobody's identity)", responses=problem_docs(404))
async def short(code: Annotated[str, Path(max_length=16)], request: Request, store: StoreDep) -> RedirectResponse:
    # 302, not 301: a browser would cache a 301 and the next click would not be counted.
    publication_id = await run_in_threadpool(resolve, _ledger(request, store), code)
    if publication_id is None:
        raise NotFound(f"no push SMS carried the short link {code!r}")
    return await _redirect(publication_id, "sms", request, store)


def _ledger(request: Request, store: StatusStore) -> Ledger:
    found: Ledger | None = getattr(request.app.state, "ledger", None)
    if found is None:
        found = request.app.state.ledger = Ledger(store.engine)
    return found


async def _redirect(publication_id: str, c: str, request: Request, store: StatusStore) -> RedirectResponse:
    portal = (await run_in_threadpool(store.deliveries_of, publication_id)).get("portal", {})
    url = portal.get("url")
    if not url:
        raise NotFound(f"publication {publication_id!r} has no portal page (yet)")
    subs = directory(request, store)
    await run_in_threadpool(subs.click, publication_id, c if c in CHANNELS else "other")
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
