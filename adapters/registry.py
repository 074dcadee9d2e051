"""Explicit registry: channel name -> (config model, adapter factory). No directory scanning."""

from __future__ import annotations

from adapters.base import AdapterConfig, ChannelAdapter
from adapters.portal import PortalAdapter, PortalConfig

REGISTRY: dict[str, tuple[type[AdapterConfig], type[ChannelAdapter]]] = {
    "portal": (PortalConfig, PortalAdapter),
}


def build_adapters(configs: dict[str, AdapterConfig]) -> dict[str, ChannelAdapter]:
    adapters: dict[str, ChannelAdapter] = {}
    for channel, config in configs.items():
        config_type, factory = REGISTRY[channel]
        if not isinstance(config, config_type):
            raise TypeError(f"channel {channel!r} needs a {config_type.__name__}, got {type(config).__name__}")
        adapters[channel] = factory(config)  # type: ignore[call-arg]
    return adapters
