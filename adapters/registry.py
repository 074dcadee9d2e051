"""Explicit registry: channel name -> (config model, adapter factory). No directory scanning.

To add a channel: one module under adapters/, one entry here, one config builder in
govcast/runtime.py (CONFIG_BUILDERS), optionally a renderer (processors/render/channels.py),
a sandbox (adapters/sandboxes/__init__.py) and a callback router (producers/callbacks/__init__.py).
"""

from __future__ import annotations

from typing import cast

from adapters.base import AdapterConfig, AdapterFactory, AdapterServices, ChannelAdapter
from adapters.disclosure import DisclosureAdapter, DisclosureConfig
from adapters.portal import PortalAdapter, PortalConfig
from adapters.push import PushAdapter, PushConfig
from adapters.wechat import WechatAdapter, WechatConfig
from adapters.weibo import WeiboAdapter, WeiboConfig


def _portal(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return PortalAdapter(cast(PortalConfig, config))


def _disclosure(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return DisclosureAdapter(cast(DisclosureConfig, config), services)


def _wechat(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return WechatAdapter(cast(WechatConfig, config), services)


def _weibo(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return WeiboAdapter(cast(WeiboConfig, config), services)


def _push(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return PushAdapter(cast(PushConfig, config), services)


REGISTRY: dict[str, tuple[type[AdapterConfig], AdapterFactory]] = {
    "portal": (PortalConfig, _portal),
    "wechat": (WechatConfig, _wechat),
    "weibo": (WeiboConfig, _weibo),
    "disclosure": (DisclosureConfig, _disclosure),
    "push": (PushConfig, _push),
}


def build_adapters(configs: dict[str, AdapterConfig], services: AdapterServices) -> dict[str, ChannelAdapter]:
    adapters: dict[str, ChannelAdapter] = {}
    for channel, config in configs.items():
        if channel not in REGISTRY:
            raise ValueError(f"no adapter registered for channel {channel!r}; known: {', '.join(sorted(REGISTRY))}")
        config_type, factory = REGISTRY[channel]
        if not isinstance(config, config_type):
            raise TypeError(f"channel {channel!r} needs a {config_type.__name__}, got {type(config).__name__}")
        adapters[channel] = factory(config, services)
    return adapters
