"""The policy push channel as the rest of govcast sees it."""

from __future__ import annotations

from typing import cast

from adapters.base import AdapterConfig, AdapterServices, ChannelAdapter
from adapters.push.adapter import PushAdapter
from adapters.push.config import PushConfig, PushSettings, push_config
from adapters.push.render import render_push
from adapters.push.sms_callbacks import sms_callbacks
from adapters.push.sms_sandbox import sms_sandbox
from adapters.push.webhook_sandbox import webhook_receiver
from adapters.spec import Capabilities, ChannelSpec


def _adapter(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return PushAdapter(cast(PushConfig, config), services)


SPEC = ChannelSpec(
    name="push", label="精准推送", settings=PushSettings, config=push_config, adapter=_adapter,
    renderer=render_push, sandboxes={"sms": sms_sandbox, "webhook": webhook_receiver}, callbacks={"sms": sms_callbacks},
    capabilities=Capabilities(retract=False, receipts=True, follows_validity=True),
    summary="point-to-point policy push to subscribed businesses: webhook, email, SMS, WeChat template message",
)
