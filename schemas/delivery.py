"""Delivery vocabulary: tasks for adapters, their typed results, and status events."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.publication import Publication, Validity


class Action(StrEnum):
    publish = "publish"
    retract = "retract"


class DeliveryStatus(StrEnum):
    pending = "pending"
    scheduled = "scheduled"
    held = "held"
    rendering = "rendering"
    delivering = "delivering"
    retrying = "retrying"
    delivered = "delivered"
    failed = "failed"
    dead = "dead"
    retracted = "retracted"
    paused = "paused"  # the channel is paused by an operator: the delivery waits, nothing is lost
    awaiting_review = "awaiting_review"  # a new-media copy waits for an editor's approval (GOVCAST_NEWMEDIA_REVIEW)
    rejected = "rejected"  # an editor rejected the new-media copy: it is not posted


TERMINAL = frozenset({DeliveryStatus.delivered, DeliveryStatus.failed, DeliveryStatus.dead, DeliveryStatus.retracted,
                      DeliveryStatus.rejected})


def delivery_id(publication_id: str, version: int, channel: str, action: Action, recipient: str | None = None) -> str:
    """Stable id of one effect: the same inputs always name the same delivery (idempotency key)."""
    raw = f"{publication_id}|{version}|{channel}|{action}|{recipient or ''}"
    return "dlv_" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def recipient_delivery_id(pub: Publication, channel: str, action: Action, recipient: str) -> str:
    """One business's push of `pub`. A lapse notice (the policy was repealed or replaced) has an id that does
    not depend on the version: each business that received the policy gets exactly one. An amendment notice
    is one per amending publication (a policy amended, then repealed, gets both notices)."""
    if pub.lapsed_by is not None and pub.validity is Validity.amended:
        return delivery_id(pub.id, 0, channel, action, f"amended:{pub.lapsed_by.by_id}:{recipient}")
    if pub.lapsed_by is not None and pub.validity is not Validity.valid:
        return delivery_id(pub.id, 0, channel, action, f"lapse:{recipient}")
    return delivery_id(pub.id, pub.version, channel, action, recipient)


class DeliveryTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    delivery_id: str
    channel: str
    action: Action
    publication: Publication
    recipient: str | None = None
    # A chunk of a push fan-out: up to a few hundred recipients in one task, each its own delivery
    # (id from `delivery_id(..., recipient)`) once the push dispatcher expands the chunk.
    recipients: tuple[str, ...] = ()
    rendition: dict[str, Any] = {}  # channel-specific rendered content from the channel renderers (adapters/<name>/render.py)
    attempt: Annotated[int, Field(ge=1)] = 1
    checks: Annotated[int, Field(ge=0)] = 0  # times the host came back for a Pending result
    not_before: dt.datetime | None = None  # set on retries: do not attempt before this time
    last_error: str | None = None
    paused_since: dt.datetime | None = None  # waiting for an operator to resume its channel (status shown once)
    # What the plan had to say about this delivery (`delivering: version N queued`, a renderer's warnings),
    # without the publication (the task carries it). The delivery stage sends these together with its first
    # outcome in one status message, instead of the plan sending each as a message of its own (issue 16).
    statuses: tuple[StatusEvent, ...] = ()

    @property
    def partition_key(self) -> str:
        # Channel-wide copies keep per-publication order (revision after publish,
        # retraction after both); per-recipient pushes (and chunks of them) spread by delivery id.
        return self.delivery_id if self.recipient or self.recipients else self.publication.id

    def per_recipient(self) -> list[DeliveryTask]:
        """The tasks a chunk stands for (a task for one recipient, or a channel-wide one, stands for itself)."""
        if not self.recipients:
            return [self]
        pub = self.publication
        return [self.model_copy(update={"recipient": code, "recipients": (),
                                        "delivery_id": recipient_delivery_id(pub, self.channel, self.action, code)})
                for code in self.recipients]


# Typed adapter results: never a bare bool.
class Delivered(BaseModel):
    kind: Literal["delivered"] = "delivered"
    url: str | None = None
    external_id: str | None = None
    detail: str | None = None


class Retryable(BaseModel):
    kind: Literal["retryable"] = "retryable"
    reason: str
    retry_after: Annotated[float, Field(ge=0)] = 30.0
    # Our own infrastructure is down (disk full, database unreachable), not the platform or the input:
    # retried until it is back without spending an attempt, so an outage never dead-letters work.
    outage: bool = False


class Rejected(BaseModel):
    kind: Literal["rejected"] = "rejected"
    reason: str
    code: str | None = None


class Pending(BaseModel):
    """The platform accepted the task and reports the result later (WeChat publish job, SMS receipt).

    The host checks again after `check_after` seconds; the adapter then reads the platform's
    callback (recorded in its ledger) or polls. Not a failure: the status stays `delivering`.
    """

    kind: Literal["pending"] = "pending"
    reason: str
    check_after: Annotated[float, Field(ge=0)] = 5.0
    external_id: str | None = None
    # Not handed to the platform yet: it waits for a send the adapter schedules (WeChat's daily mass send); shown
    # as `scheduled` instead of `delivering`.
    scheduled: bool = False


class UnknownOutcome(BaseModel):
    """The platform may or may not have acted (e.g. timeout on an irreversible call): reconcile, never blindly repeat."""

    kind: Literal["unknown"] = "unknown"
    reason: str
    reconcile_after: Annotated[float, Field(ge=0)] = 10.0


DeliveryResult = Annotated[Delivered | Retryable | Rejected | Pending | UnknownOutcome, Field(discriminator="kind")]


@dataclass(frozen=True)
class Deferral:
    """Not now, without spending an attempt (push: quiet hours of the channel it would use, or a daily cap)."""

    until: dt.datetime
    reason: str


class DeliveryReport(BaseModel):
    delivery_id: str
    publication_id: str
    version: int
    channel: str
    action: Action
    recipient: str | None = None
    attempt: int
    result: DeliveryResult
    at: dt.datetime


class StatusEvent(BaseModel):
    """One step in a publication's life, per channel (channel None = the publication as a whole)."""

    publication_id: str
    version: int
    channel: str | None = None
    status: DeliveryStatus
    detail: str | None = None
    url: str | None = None
    at: dt.datetime
    # Fan-out channels (push): how far the campaign had got. Summaries from different partitions may be
    # projected out of order; one with less progress than the stored one does not overwrite it.
    progress: int | None = None
    publication: Publication | None = None  # carried when the status store may not know the record yet
    actor: str | None = None  # who asked for this step when a person did (operator console, department); else None


DeliveryTask.model_rebuild()  # its `statuses` refer to StatusEvent, defined after it
