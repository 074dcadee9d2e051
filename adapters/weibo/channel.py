"""The Weibo channel as the rest of govcast sees it."""

from __future__ import annotations

from typing import cast

from adapters.base import AdapterConfig, AdapterServices, ChannelAdapter
from adapters.spec import Capabilities, ChannelSpec
from adapters.weibo.adapter import WeiboAdapter
from adapters.weibo.config import WeiboConfig, WeiboSettings, weibo_config
from adapters.weibo.render import OVERRIDES, render_weibo
from adapters.weibo.sandbox import weibo_sandbox


def _adapter(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return WeiboAdapter(cast(WeiboConfig, config), services)


SPEC = ChannelSpec(
    name="weibo", label="微博", settings=WeiboSettings, config=weibo_config, adapter=_adapter,
    renderer=render_weibo, sandboxes={"weibo": weibo_sandbox}, capabilities=Capabilities(retract=True), overrides=OVERRIDES,
    summary="Weibo post ≤ 140 counted as Weibo counts, ending with the portal link",
)
