"""The WeChat official-account channel as the rest of govcast sees it."""

from __future__ import annotations

from typing import cast

from adapters.base import AdapterConfig, AdapterServices, ChannelAdapter
from adapters.spec import Capabilities, ChannelSpec
from adapters.wechat.adapter import WechatAdapter
from adapters.wechat.callbacks import wechat_callbacks
from adapters.wechat.config import WechatConfig, WechatSettings, wechat_config
from adapters.wechat.render import OVERRIDES, render_wechat
from adapters.wechat.sandbox import wechat_sandbox


def _adapter(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return WechatAdapter(cast(WechatConfig, config), services)


SPEC = ChannelSpec(
    name="wechat", label="微信公众号", settings=WechatSettings, config=wechat_config, adapter=_adapter,
    renderer=render_wechat, sandboxes={"wechat": wechat_sandbox}, callbacks={"wechat": wechat_callbacks},
    capabilities=Capabilities(retract=True, receipts=True), overrides=OVERRIDES,
    summary="WeChat official account article (draft → freepublish, result by signed callback or polling; or the day's "
            "articles as one mass send to all followers with GOVCAST_WECHAT_MASS_SEND)",
)
