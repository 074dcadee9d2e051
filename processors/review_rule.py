"""The new-media review rule (GOVCAST_NEWMEDIA_REVIEW, entries `channel` or `channel:publisher_code`): which copies
wait for an editor before they are posted, and which channels are paced (processors/pacing.py).

`stages.plan` applies it: a named copy is not queued but recorded as `awaiting_review` in the status store, where
it waits however long it takes (durable on both hosts, no retry attempt spent, never dead-lettered). An operator's
approval (producers/newmedia_review.py) queues the task, with the editor's edits; a rejection marks it `rejected`.
The portal and the other channels never wait.
"""

from __future__ import annotations

import datetime as dt

from schemas.delivery import DeliveryStatus, StatusEvent
from schemas.publication import Publication
from settings import Settings


def reviewed_channels(settings: Settings) -> set[str]:
    """Channels the review rule names (for any department): the ones that are paced."""
    return {entry.partition(":")[0] for entry in settings.newmedia_review} & set(settings.channels)


def needs_review(settings: Settings, channel: str, pub: Publication) -> bool:
    """Whether `pub`'s copy on `channel` waits for an editor: the rule names the channel for every department or
    for the publishing department (its publisher code)."""
    return any(entry == channel or entry == f"{channel}:{pub.department}" for entry in settings.newmedia_review)


def awaiting(pub: Publication, channel: str, now: dt.datetime) -> StatusEvent:
    return StatusEvent(publication_id=pub.id, version=pub.version, channel=channel,
                       status=DeliveryStatus.awaiting_review, at=now, publication=pub,
                       detail="waiting for an editor's review (new-media review rule): approve, edit or reject it "
                              "in the console's 待审核 list or through the API")
