"""新媒体待审核: the WeChat and Weibo copies the review rule keeps waiting, each shown as it will be posted, with
the editor's approve (after editing the title and digest, or the post text) and reject-with-a-reason.

Operators decide; a department sees its own waiting copies, read-only. The page of one copy is the confirmation
step (what will be posted is on it); every POST carries the session's CSRF token and is signed with the editor's
name on the timeline and the audit trail (producers/newmedia_review.py does the work, as for the API).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from adapters.wechat.render import DIGEST_MAX, TITLE_MAX
from persistence.reviews import awaiting_reviews
from persistence.sessions import Session
from persistence.store import StatusStore
from producers.console.renditions import from_renderer
from producers.console.web import SessionDep, check_csrf, page, principal_of, redirect
from producers.errors import Forbidden, Invalid
from producers.newmedia_review import NewMediaReview, ReviewEdits

router = APIRouter()
Line = Annotated[str, Form(max_length=200)]


def _review(request: Request) -> NewMediaReview:
    review: NewMediaReview = request.app.state.review
    return review


@router.get("/reviews", response_class=HTMLResponse)
def waiting(request: Request, session: SessionDep) -> HTMLResponse:
    store: StatusStore = request.app.state.store
    own = session.publisher_code if session.kind == "department" else None
    return page(request, "reviews.html", items=awaiting_reviews(store.engine, department=own or None))


@router.get("/reviews/{publication_id}/{channel}", response_class=HTMLResponse)
def one(request: Request, publication_id: str, channel: str, session: SessionDep) -> HTMLResponse:
    return _copy_page(request, session, publication_id, channel)


def _copy_page(request: Request, session: Session, publication_id: str, channel: str, *, errors: list[str] | None = None,
               typed: dict[str, str] | None = None) -> HTMLResponse:
    store: StatusStore = request.app.state.store
    pub, rendition = _review(request).copy(principal_of(session), publication_id, channel)
    state = store.deliveries_of(pub.id).get(channel) or {}
    waiting_now = state.get("status") == "awaiting_review" and state.get("version") == pub.version and not pub.retracted
    values = {"title": rendition.get("title", ""), "digest": rendition.get("digest", ""), "text": _words(rendition),
              **(typed or {})}
    return page(request, "review.html", status_code=422 if errors else 200, pub=pub, channel=channel,
                copy=from_renderer(channel, rendition), values=values, waiting=waiting_now, state=state,
                errors=errors or [], limits={"title": TITLE_MAX, "digest": DIGEST_MAX})


@router.post("/reviews/{publication_id}/{channel}/approve")
def approve(request: Request, publication_id: str, channel: str, session: SessionDep, csrf: Line = "",
            title: Line = "", digest: Annotated[str, Form(max_length=1000)] = "",
            text: Annotated[str, Form(max_length=2000)] = "") -> Response:
    check_csrf(session, csrf)
    _operator(session.kind)
    review = _review(request)
    who = principal_of(session)
    _, rendition = review.copy(who, publication_id, channel)
    # Only what the editor changed counts as an edit (the form comes prefilled with the rendered copy).
    edits = ReviewEdits(title=_changed(title, rendition.get("title")) if channel == "wechat" else None,
                        digest=_changed(digest, rendition.get("digest")) if channel == "wechat" else None,
                        text=_changed(text, _words(rendition)) if channel == "weibo" else None)
    try:
        review.approve(who, publication_id, channel, edits)
    except Invalid as exc:  # the copy again, with what the editor typed and what does not fit
        return _copy_page(request, session, publication_id, channel, errors=[f"{e.field}: {e.message}" for e in exc.errors],
                          typed={"title": title, "digest": digest, "text": text})
    return redirect("/console/reviews", done="review-approve")


@router.post("/reviews/{publication_id}/{channel}/reject")
def reject(request: Request, publication_id: str, channel: str, session: SessionDep, csrf: Line = "",
           reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    check_csrf(session, csrf)
    _operator(session.kind)
    if not reason.strip():
        raise Invalid("不通过的原因 is required")
    _review(request).reject(principal_of(session), publication_id, channel, reason.strip())
    return redirect("/console/reviews", done="review-reject")


def _operator(kind: str) -> None:
    if kind != "operator":
        raise Forbidden("only operators approve or reject new-media copies")


def _words(rendition: dict[str, object]) -> str:
    """A Weibo post without the portal link that ends it (the link is appended again, whatever the editor writes)."""
    status, url = str(rendition.get("status") or ""), str(rendition.get("url") or "")
    return status.removesuffix(url).rstrip() if url else status


def _changed(value: str, rendered: object) -> str | None:
    value = value.strip()
    return value if value and value != str(rendered or "").strip() else None

