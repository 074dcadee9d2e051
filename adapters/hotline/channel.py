"""The 12345 hotline knowledge-base channel as the rest of govcast sees it."""

from __future__ import annotations

from typing import cast

from adapters.base import AdapterConfig, AdapterServices, ChannelAdapter
from adapters.common.install import Installation
from adapters.hotline.adapter import HotlineAdapter
from adapters.hotline.config import HotlineConfig, HotlineSettings, hotline_config
from adapters.hotline.render import render_hotline
from adapters.hotline.sandbox import hotline_sandbox
from adapters.spec import Capabilities, ChannelSpec
from schemas.publication import Kind, PublicationFields


def _adapter(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return HotlineAdapter(cast(HotlineConfig, config), services)


def _policies(fields: PublicationFields) -> bool:
    return fields.kind in (Kind.policy, Kind.interpretation)  # callers ask about policies, not notices or news


def _only_policies(fields: PublicationFields, install: Installation) -> list[tuple[str, str]]:
    if _policies(fields):
        return []
    return [("body.channels", f"the hotline channel carries policies and interpretations, not a {fields.kind.value}")]


SPEC = ChannelSpec(
    name="hotline", label="12345热线知识库", settings=HotlineSettings, config=hotline_config, adapter=_adapter,
    renderer=render_hotline, sandboxes={"hotline": hotline_sandbox}, applies=_policies, check=_only_policies,
    on_by_default=False,  # an installation turns it on (GOVCAST_CHANNELS) once its knowledge base is agreed
    capabilities=Capabilities(retract=True, edit=True, follows_validity=True),
    summary="12345 hotline knowledge base: one Q&A entry per policy or interpretation, withdrawn on retraction or 失效/废止",
)
