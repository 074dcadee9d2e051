"""New-media review through the API (issue 14): the copies waiting for an editor, each as it will be posted, and
the editor's approve (with edits) or reject. Operators decide; a department lists and reads its own copies."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request

from persistence.reviews import awaiting_reviews
from producers.api.deps import PrincipalDep, StoreDep
from producers.newmedia_review import NewMediaReview, ReviewEdits, ReviewReject, shown
from producers.problems import problem_docs

router = APIRouter(tags=["publications"], responses=problem_docs(401, 403, 404, 422))

PublicationId = Annotated[str, Path(min_length=1, max_length=40, description="publication id (`pub_…`)")]
Channel = Annotated[str, Path(min_length=1, max_length=30, description="new-media channel (wechat, weibo)")]


def get_review(request: Request) -> NewMediaReview:
    review: NewMediaReview = request.app.state.review
    return review


ReviewDep = Annotated[NewMediaReview, Depends(get_review)]


@router.get("/v1/reviews", summary="New-media copies waiting for an editor (oldest first)")
def waiting(principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    department = None if principal.kind == "operator" else (principal.publisher_code or "-")
    if principal.kind not in ("operator", "department"):
        department = "-"  # businesses see nothing
    return {"items": [dataclasses.asdict(a) for a in awaiting_reviews(store.engine, department=department)]}


@router.get("/v1/publications/{publication_id}/deliveries/{channel}/copy",
            summary="A channel's copy of a publication as it will be posted (the review's preview)")
def copy(publication_id: PublicationId, channel: Channel, principal: PrincipalDep, review: ReviewDep) -> dict[str, Any]:
    pub, rendition = review.copy(principal, publication_id, channel)
    return {"publication_id": pub.id, "version": pub.version, "channel": channel, "rendition": shown(rendition)}


@router.post("/v1/publications/{publication_id}/deliveries/{channel}/approve", status_code=202,
             summary="Approve a new-media copy waiting for review, with optional edits (operators)",
             responses=problem_docs(409, 503))
def approve(publication_id: PublicationId, channel: Channel, principal: PrincipalDep, review: ReviewDep,
            edits: Annotated[ReviewEdits | None, Body()] = None) -> dict[str, Any]:
    """The copy goes out (within the channel's send window and daily cap) with the edited title and digest (WeChat)
    or text (Weibo); 409 when it is not waiting (decided already, revised or retracted)."""
    return review.approve(principal, publication_id, channel, edits or ReviewEdits())


@router.post("/v1/publications/{publication_id}/deliveries/{channel}/reject",
             summary="Reject a new-media copy waiting for review: it is not posted (operators)",
             responses=problem_docs(409, 503))
def reject(publication_id: PublicationId, channel: Channel, body: ReviewReject, principal: PrincipalDep,
           review: ReviewDep) -> dict[str, Any]:
    return review.reject(principal, publication_id, channel, body.reason)
