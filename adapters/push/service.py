"""PushService: what the push stages (processors/target.py) use of the push feature.

The runtime puts the push feature into the stage context explicitly (`StageContext.push`); the stages do
not look through the channel adapters for it. `PushAdapter` is the one implementation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from adapters.push.targeting import DirectoryView

if TYPE_CHECKING:
    from persistence.subscribers import SubscriberStore
    from schemas.delivery import Deferral, DeliveryResult, DeliveryTask


class PushService(Protocol):
    @property
    def store(self) -> SubscriberStore: ...  # recipient states, campaign counts, who was pushed before

    @property
    def directory(self) -> DirectoryView: ...  # who a targeting matches (the table, or the Kafka directory topic)

    async def deliver_many(self, tasks: list[DeliveryTask], now: dt.datetime | None = None, *,
                           states: Mapping[str, str] | None = None) -> dict[str, DeliveryResult | Deferral]:
        """`states`: the recipients' rows in push_recipients as the caller just read them (None: read them)."""
