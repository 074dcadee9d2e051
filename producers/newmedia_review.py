"""New-media review (issue 14): an editor approves, edits or rejects a copy the review rule keeps waiting.

Operators decide (the 政务公开办's editors hold operator tokens; department tokens follow their copies'
`awaiting_review` status but do not approve their own posts). Each decision is one store transaction: the copy
leaves `awaiting_review` (persistence/reviews.py: exactly one of two concurrent editors wins), its status event
signed with the editor's name and -- on approval -- the delivery task with the edited rendition go into the outbox,
and the audit trail records the decision with the edits. The task then passes the channel's send window and daily
cap (processors/pacing.py) like any other copy.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from adapters import channels
from persistence import audit
from persistence.reviews import claim_review
from persistence.store import Principal, StatusStore
from processors.outbox import OutboxRelay, enqueue
from processors.screen import screen_text, stopping, summary
from processors.topology import outbound_for
from producers.auth import actor_of, may_see_department
from producers.errors import Conflict, FieldError, Forbidden, Invalid, NotFound
from schemas.delivery import Action, DeliveryStatus, DeliveryTask, StatusEvent, delivery_id
from schemas.publication import Publication
from settings import Settings

log = logging.getLogger("govcast.review")


class ReviewEdits(BaseModel):
    """What an editor may change of the rendered copy before approving it (omitted: as rendered): the fields a
    department may override for the channel (`channel_overrides`), checked and applied the same way."""

    title: str | None = Field(default=None, max_length=500, description="WeChat article title")
    digest: str | None = Field(default=None, max_length=1000, description="WeChat digest (≤ 128 characters)")
    author: str | None = Field(default=None, max_length=100, description="WeChat author (≤ 16 characters)")
    text: str | None = Field(default=None, max_length=2000,
                             description="Weibo post without its link (the portal link is appended; ≤ 140 as Weibo counts)")


class ReviewReject(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why the copy is not posted (on the timeline)")


def edited(pub: Publication, channel: str, edits: ReviewEdits, settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    """The copy rendered with the editor's changes (as overrides of the publication), and the changes; Invalid naming
    each change the platform would refuse or screening would stop (an editor's words are screened like a
    department's)."""
    given = {k: v.strip() for k, v in edits.model_dump(exclude_none=True).items() if v.strip()}
    allowed = channels.spec_of(channel).overrides
    errors: list[FieldError] = []
    for name, text in given.items():
        if name not in allowed:
            can = ", ".join(allowed) or "nothing"
            errors.append(FieldError(f"body.{name}", f"a {channel} copy has no field {name!r} to edit; it takes: {can}"))
        elif (why := allowed[name](text)) is not None:
            errors.append(FieldError(f"body.{name}", why))
        elif held := stopping(screen_text(text, name)):
            errors.append(FieldError(f"body.{name}", f"screening stops it: {summary(held)}"))
    if errors:
        raise Invalid(f"{len(errors)} edit(s) cannot be posted", errors)
    if given:
        mine = {**pub.channel_overrides.get(channel, {}), **given}
        pub = pub.model_copy(update={"channel_overrides": {**pub.channel_overrides, channel: mine}})
    return channels.renderers()[channel](pub, settings), given


@dataclass
class NewMediaReview:
    settings: Settings
    store: StatusStore
    relay: OutboxRelay
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    def copy(self, principal: Principal, publication_id: str, channel: str) -> tuple[Publication, dict[str, Any]]:
        """The publication and its rendered copy on `channel`, as it will be posted (before edits)."""
        row = self.store.publication_row(publication_id[:40])
        if row is None or not may_see_department(principal, row.department):
            raise NotFound(f"no publication {publication_id!r}")
        renderer = channels.renderers().get(channel)
        if renderer is None or channel not in self.settings.channels:
            raise NotFound(f"no channel {channel!r} with a rendered copy here")
        pub = Publication.model_validate_json(row.doc)
        return pub, renderer(pub, self.settings)

    def approve(self, principal: Principal, publication_id: str, channel: str, edits: ReviewEdits) -> dict[str, Any]:
        """Queue the waiting copy (with the edits) for posting; Conflict when it is not waiting."""
        _require_operator(principal)
        pub, _ = self.copy(principal, publication_id, channel)
        rendition, changes = edited(pub, channel, edits, self.settings)
        now, actor = self.clock(), actor_of(principal)
        detail = "approved by the editor" + (f", edited: {', '.join(sorted(changes))}" if changes else "")
        note = StatusEvent(publication_id=pub.id, version=pub.version, channel=channel, status=DeliveryStatus.delivering,
                           detail=detail, at=now, actor=actor)
        # The task carries the status to the delivery, which sends (or on Kafka projects) it ahead of its outcome:
        # sent on its own, it could reach the store after a fast `delivered` and overwrite it.
        task = DeliveryTask(delivery_id=delivery_id(pub.id, pub.version, channel, Action.publish), channel=channel,
                            action=Action.publish, publication=pub, rendition=rendition, statuses=(note,))
        self._decide(principal, pub, channel, note, [task], "newmedia.approve", {"edits": changes})
        log.info("%s approved the %s copy of %s v%d", principal.name, channel, pub.id, pub.version)
        return {"status": "delivering", "channel": channel, "version": pub.version, "rendition": shown(rendition)}

    def reject(self, principal: Principal, publication_id: str, channel: str, reason: str) -> dict[str, Any]:
        """Mark the waiting copy rejected: it is not posted (a revision brings a new copy to review)."""
        _require_operator(principal)
        pub, _ = self.copy(principal, publication_id, channel)
        note = StatusEvent(publication_id=pub.id, version=pub.version, channel=channel, status=DeliveryStatus.rejected,
                           detail=f"rejected by the editor: {reason}", at=self.clock(), actor=actor_of(principal))
        self._decide(principal, pub, channel, note, [note], "newmedia.reject", {"reason": reason})
        log.info("%s rejected the %s copy of %s v%d", principal.name, channel, pub.id, pub.version)
        return {"status": "rejected", "channel": channel, "version": pub.version}

    def _decide(self, principal: Principal, pub: Publication, channel: str, note: StatusEvent,
                outputs: list[BaseModel], action: str, detail: dict[str, Any]) -> None:
        now = note.at
        with self.store.transaction() as conn:
            if not claim_review(conn, pub.id, channel, pub.version, note.status.value, note.detail or "", now):
                raise Conflict(f"the {channel} copy of {pub.id} (version {pub.version}) is not waiting for review "
                               "(decided already, revised or retracted); fetch the publication and look again")
            # An approval's status rides in its task (approve); a rejection's goes out on its own.
            enqueue(conn, [outbound_for(m, f"rev_{secrets.token_hex(12)}", now) for m in outputs])
            audit.record(conn, principal, action, pub.id, {"channel": channel, "version": pub.version, **detail})
        self.relay.after_commit()


def _require_operator(principal: Principal) -> None:
    if principal.kind != "operator":
        raise Forbidden("only operators (the editors of the new-media accounts) approve or reject new-media copies")


def shown(rendition: dict[str, Any]) -> dict[str, Any]:
    """A rendition without the cover's bytes (kilobytes of base64 nobody reads in an API answer)."""
    return {k: v for k, v in rendition.items() if k != "cover_jpeg"}
