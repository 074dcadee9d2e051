"""ChannelSpec: the one object that describes a channel to the rest of govcast.

Each channel package (adapters/<name>/) exports one `SPEC`; adapters/channels.py lists them. The API's
accepted channel names, the plan stage's renderers, the runtime's adapters, the sandbox mounts, the callback
routes, the env example and the console's labels are all read from that list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapters.base import AdapterConfig, AdapterFactory
from adapters.common.install import Installation
from adapters.common.settings import ChannelSettings
from schemas.publication import Publication, PublicationFields

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.types import ASGIApp

    from persistence.ledger import Ledger

Renderer = Callable[[Publication, Installation], dict[str, Any]]
# What a rendered field takes from a department (channel_overrides): the problem with a text, or None.
OverrideCheck = Callable[[str], str | None]
SandboxFactory = Callable[[Installation], "ASGIApp"]
CallbackFactory = Callable[[Installation, "Ledger"], "APIRouter"]


def _always(fields: PublicationFields) -> bool:
    return True


@dataclass(frozen=True)
class Capabilities:
    """What the channel can do with a copy once it is out (shown to operators; the lifecycle reads `follows_validity`)."""

    retract: bool = True  # a retraction removes or withdraws the copy
    edit: bool = False  # a revision updates the copy in place (else a revision is a new copy, or nothing)
    receipts: bool = False  # the platform confirms later (callback or polling): `pending` before `delivered`
    follows_validity: bool = False  # keeps a current copy: 失效/废止 versions go to it (processors' lifecycle)


@dataclass(frozen=True)
class ChannelSpec:
    name: str  # the wire name (`channels` of a submission, GOVCAST_CHANNELS, delivery tasks)
    label: str  # zh-CN, for the console
    settings: type[ChannelSettings] | None  # what operators set (GOVCAST_<CHANNEL>_*); None: installation facts only
    config: Callable[[Installation], AdapterConfig]  # the adapter's typed config (raises ValueError when incomplete)
    adapter: AdapterFactory
    renderer: Renderer | None = None  # run by the plan stage: the task's `rendition`; None: the adapter renders
    sandboxes: Mapping[str, SandboxFactory] = field(default_factory=dict)  # mounted at /sandbox/<key>/
    callbacks: Mapping[str, CallbackFactory] = field(default_factory=dict)  # mounted at /callbacks/<key>
    capabilities: Capabilities = Capabilities()
    applies: Callable[[PublicationFields], bool] = _always  # default channel selection skips items it has no use for
    # the submit API's extra checks for this channel: (field path, message) pairs, all reported at once
    check: Callable[[PublicationFields, Installation], list[tuple[str, str]]] | None = None
    on_by_default: bool = True  # in the default GOVCAST_CHANNELS
    # rendered fields a publication may override for this channel (channel_overrides), each with its check;
    # the renderer applies them (adapters.overrides)
    overrides: Mapping[str, OverrideCheck] = field(default_factory=dict)
    summary: str = ""  # one line for docs and the env example
