"""The portal channel as the rest of govcast sees it."""

from __future__ import annotations

from typing import cast

from adapters.base import AdapterConfig, AdapterServices, ChannelAdapter
from adapters.portal.adapter import PortalAdapter
from adapters.portal.config import PortalConfig, PortalSettings, portal_config
from adapters.spec import Capabilities, ChannelSpec


def _adapter(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    adapter = PortalAdapter(cast(PortalConfig, config))
    adapter.ensure_site()  # the printed portal address answers from the first start on
    return adapter


SPEC = ChannelSpec(
    name="portal", label="门户网站", settings=PortalSettings, config=portal_config, adapter=_adapter,
    capabilities=Capabilities(retract=True, edit=True, follows_validity=True),
    summary="static government portal: article pages, column lists, feed, sitemap, search, 政策文件库",
)
