"""Shared vocabulary of govcast: pydantic models only, no I/O."""

from schemas.delivery import (
    Action,
    Delivered,
    DeliveryReport,
    DeliveryResult,
    DeliveryStatus,
    DeliveryTask,
    Rejected,
    Retryable,
    StatusEvent,
    UnknownOutcome,
    delivery_id,
)
from schemas.events import CONTENT_TYPE, CloudEvent, EventType, Topics, derived_id, new_event
from schemas.publication import (
    Accepted,
    Channel,
    IndexNo,
    Kind,
    Publication,
    PublicationIn,
    PublicationOut,
    Relation,
    RetractIn,
    Validity,
)

__all__ = [
    "CONTENT_TYPE", "Accepted", "Action", "Channel", "CloudEvent", "Delivered", "DeliveryReport", "DeliveryResult",
    "DeliveryStatus", "DeliveryTask", "EventType", "IndexNo", "Kind", "Publication", "PublicationIn",
    "PublicationOut", "Rejected", "Relation", "RetractIn", "Retryable", "StatusEvent", "Topics", "UnknownOutcome",
    "Validity", "delivery_id", "derived_id", "new_event",
]
