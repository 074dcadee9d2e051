"""The one protocol every channel adapter implements, and the explicit registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

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


AdapterFactory = Callable[[Any], ChannelAdapter]
