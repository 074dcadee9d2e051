"""The bus interface both hosts implement: topics of CloudEvents, keyed, durable on send."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from schemas.events import CloudEvent


class BusUnavailable(RuntimeError):
    """The bus cannot durably accept a message now (broker down, disk full): answer 503, keep nothing."""


@dataclass(frozen=True)
class Outbound:
    topic: str
    key: str
    event: CloudEvent


class Bus(Protocol):
    def send(self, messages: list[Outbound]) -> None:
        """Append `messages` durably, in order per key; raise BusUnavailable when that cannot be promised."""
        ...

    def close(self) -> None: ...
