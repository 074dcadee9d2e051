"""CloudEvents 1.0 envelope (structured JSON mode) and the topic names of the bus."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
EVENT_NAMESPACE = uuid.UUID("6f1f6b1e-0b5e-4c1e-9a57-6f7663617374")  # derives output ids from input ids


class Topics:
    publications = "govcast.publications"
    status = "govcast.status"
    deadletter = "govcast.deadletter"
    subscribers = "govcast.subscribers"  # Kafka mode: the push directory, compacted, key = credit code (not CloudEvents)

    @staticmethod
    def deliveries(channel: str) -> str:
        return f"govcast.deliveries.{channel}"

    @staticmethod
    def retry(channel: str, tier: str = "") -> str:
        """Delayed tasks wait in their topic in order; tiers keep a task due in seconds from queueing
        behind one due tomorrow morning (quiet hours, quotas): "" up to RETRY_SHORT_SECONDS, "later" beyond."""
        return f"govcast.retry.{channel}" + (f".{tier}" if tier else "")


class EventType:
    submitted = "gov.govcast.publication.submitted"
    revised = "gov.govcast.publication.revised"
    retracted = "gov.govcast.publication.retracted"
    released = "gov.govcast.publication.released"  # a scheduled publication whose time has come
    approved = "gov.govcast.publication.approved"  # an operator released what screening held
    delivery_requested = "gov.govcast.delivery.requested"
    delivery_dead = "gov.govcast.delivery.dead"
    status_changed = "gov.govcast.status.changed"


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    specversion: str = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: dt.datetime
    datacontenttype: str = "application/json"
    data: Any = None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        event = cls.model_validate_json(raw)
        if event.specversion != "1.0":
            raise ValueError(f"unsupported CloudEvents specversion {event.specversion!r}")
        return event


def new_event(type_: str, source: str, subject: str | None, data: BaseModel | dict[str, Any], *, event_id: str | None = None,
              **extensions: str) -> CloudEvent:
    """A CloudEvent; `extensions`: extension attributes (lowercase names), carried next to the standard ones."""
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=type_,
        subject=subject,
        time=dt.datetime.now(dt.UTC),
        data=payload,
        **extensions,
    )


def derived_id(parent_id: str, index: int) -> str:
    """Deterministic id of the index-th event produced while handling `parent_id`.

    Re-processing an input after a crash emits the same ids, so consumers that
    record event ids (the status timeline) see duplicates as duplicates.
    """
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{parent_id}/{index}"))


__all__ = ["CONTENT_TYPE", "CloudEvent", "EventType", "Topics", "ValidationError", "derived_id", "new_event"]
