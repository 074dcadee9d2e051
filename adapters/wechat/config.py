"""Typed configuration of the WeChat official-account channel."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, field_validator

from adapters.base import AdapterConfig

if TYPE_CHECKING:
    from govcast.settings import Settings

PRODUCTION_URL = "https://api.weixin.qq.com"
# Demo credentials of the bundled sandbox, used only while no WeChat base URL is configured.
SANDBOX_APPID = "wx_sandbox_appid"
SANDBOX_SECRET = "sandbox-app-secret"  # a public demo value, like a payment provider's test key
SANDBOX_CALLBACK_TOKEN = "sandbox-callback-token"
# The sandbox's demo template message (policy push); real template ids come from the MP console (模板消息).
SANDBOX_TEMPLATE_ID = "sbx_tpl_policy_push_demo_000000000000000000"


class WechatConfig(AdapterConfig):
    base_url: str = Field(default=PRODUCTION_URL, description="API root; the sandbox is {public_url}/sandbox/wechat")
    appid: str = Field(min_length=1, description="official account AppID")
    secret: SecretStr = Field(description="AppSecret (stable_token)")
    timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout")
    poll_seconds: float = Field(default=1.0, gt=0, description="first wait before checking a publish job; doubles, ≤ 60 s")
    reconcile_grace_seconds: float = Field(default=600.0, ge=0,
                                           description="after a submit timeout, how long the article may take to appear")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("base_url must be an absolute http(s) URL, e.g. https://api.weixin.qq.com")
        return value.rstrip("/")


def uses_sandbox(settings: Settings) -> bool:
    return not settings.wechat_base_url and settings.sandboxes


def credentials(settings: Settings) -> tuple[str, SecretStr, SecretStr]:
    """(AppID, AppSecret, callback Token): as configured; the sandbox's demo values where empty and the sandbox is used."""
    sandbox = uses_sandbox(settings)
    appid = settings.wechat_appid or (SANDBOX_APPID if sandbox else "")
    secret = settings.wechat_secret.get_secret_value() or (SANDBOX_SECRET if sandbox else "")
    token = settings.wechat_token.get_secret_value() or (SANDBOX_CALLBACK_TOKEN if sandbox else "")
    return appid, SecretStr(secret), SecretStr(token)


def wechat_config(settings: Settings) -> WechatConfig:
    """From settings: an empty base URL means the bundled sandbox when sandboxes are on, else the real API."""
    sandbox = uses_sandbox(settings)
    appid, secret, _ = credentials(settings)
    if not appid or not secret.get_secret_value():
        raise ValueError("the wechat channel needs GOVCAST_WECHAT_APPID and GOVCAST_WECHAT_SECRET "
                         "(or GOVCAST_SANDBOXES=true with an empty GOVCAST_WECHAT_BASE_URL for the sandbox)")
    base = settings.wechat_base_url or (f"{settings.base_url}/sandbox/wechat" if sandbox else PRODUCTION_URL)
    return WechatConfig(
        base_url=base, appid=appid, secret=secret, sandbox=sandbox,
        timeout_seconds=settings.wechat_timeout_seconds, poll_seconds=settings.wechat_poll_seconds,
        reconcile_grace_seconds=settings.wechat_reconcile_grace_seconds,
    )
