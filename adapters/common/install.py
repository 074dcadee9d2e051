"""The installation a channel runs in, as channels see it (settings.Settings is one)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, TypeVar

from adapters.common.settings import ChannelSettings

S = TypeVar("S", bound=ChannelSettings)


class Installation(Protocol):
    """Installation-wide facts every channel may read; its own settings come through `channel_settings`.

    A Protocol, so that adapters depend on this shape and not on govcast's wiring (which imports them).
    """

    @property
    def base_url(self) -> str: ...  # public URL of this installation (portal links, callback URLs, sandbox URLs)

    @property
    def sandboxes(self) -> bool: ...  # the bundled sandbox platforms are mounted under <base_url>/sandbox/

    @property
    def data_dir(self) -> Path: ...

    @property
    def categories(self) -> dict[str, str]: ...  # 组配分类 -> portal column slug (portal links of every channel)

    @property
    def channels(self) -> list[str]: ...  # the configured channels (GOVCAST_CHANNELS): what this installation offers

    @property
    def webhook_allowed_networks(self) -> list[str]: ...  # egress: inward networks webhooks may reach anyway

    def channel_settings(self, model: type[S]) -> S: ...
