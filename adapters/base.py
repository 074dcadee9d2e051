"""The one protocol every channel adapter implements, and the explicit registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from persistence.ledger import Ledger
from schemas.delivery import DeliveryResult, DeliveryTask


class AdapterConfig(BaseModel):
    """Base of every adapter's typed config. Secrets are `SecretStr` so repr/logs mask them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sandbox: bool = False  # True when pointed at govcast's bundled sandbox, shown as such in the console


@runtime_checkable
class ChannelAdapter(Protocol):
    channel: ClassVar[str]

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        """Perform `task.action` (publish or retract) once; idempotent by `task.delivery_id`."""
        ...

    def close(self) -> None: ...


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class AdapterServices:
    """What every adapter may use besides its config: the shared ledger and the clock."""

    ledger: Ledger
    public_url: str  # base URL of this installation (portal links, callback URLs)
    clock: Callable[[], dt.datetime] = field(default=_utcnow)


AdapterFactory = Callable[[AdapterConfig, AdapterServices], ChannelAdapter]
