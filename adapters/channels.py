"""The channel registry: one line per channel package (adapters/<name>/channel.py defines its SPEC).

Explicit, no directory scanning: a channel exists when it is listed here. Everything else derives from
this list: the channel names the API accepts, the default GOVCAST_CHANNELS, the plan stage's renderers,
the runtime's adapters, the sandbox mounts and callback routes, the env example and the console's labels.
"""

from __future__ import annotations

import functools
import importlib

from adapters.base import AdapterConfig, AdapterServices, ChannelAdapter
from adapters.common.install import Installation
from adapters.spec import CallbackFactory, ChannelSpec, Renderer, SandboxFactory

PACKAGES = (
    "portal",
    "wechat",
    "weibo",
    "disclosure",
    "push",
    "hotline",
)


@functools.cache
def specs() -> tuple[ChannelSpec, ...]:
    found = []
    for package in PACKAGES:
        spec = importlib.import_module(f"adapters.{package}.channel").SPEC
        assert isinstance(spec, ChannelSpec) and spec.name == package, f"adapters/{package}/channel.py: SPEC"
        found.append(spec)
    return tuple(found)


def names() -> list[str]:
    return [spec.name for spec in specs()]


def default_channels() -> list[str]:
    return [spec.name for spec in specs() if spec.on_by_default]


def spec_of(name: str) -> ChannelSpec:
    for spec in specs():
        if spec.name == name:
            return spec
    raise ValueError(f"unknown channel {name!r}; known: {', '.join(names())}")


def labels() -> dict[str, str]:
    return {spec.name: spec.label for spec in specs()}


def renderers() -> dict[str, Renderer]:
    return {spec.name: spec.renderer for spec in specs() if spec.renderer is not None}


def adapter_configs(install: Installation, channels: list[str]) -> dict[str, AdapterConfig]:
    """Each configured channel's adapter config (ValueError names what is missing or unknown)."""
    return {name: spec_of(name).config(install) for name in channels}


def build_adapters(configs: dict[str, AdapterConfig], services: AdapterServices) -> dict[str, ChannelAdapter]:
    return {name: spec_of(name).adapter(config, services) for name, config in configs.items()}


def sandboxes() -> dict[str, SandboxFactory]:
    """Mount name -> sandbox app factory, over every known channel (mounted at /sandbox/<name>/ in sandbox mode)."""
    return {name: factory for spec in specs() for name, factory in spec.sandboxes.items()}


def callback_routers() -> dict[str, CallbackFactory]:
    """Route -> callback router factory, over every known channel (mounted at /callbacks/<route>)."""
    return {route: factory for spec in specs() for route, factory in spec.callbacks.items()}
