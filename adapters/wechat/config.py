"""Typed configuration of the WeChat official-account channel."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from adapters.base import AdapterConfig
from adapters.common import urls
from adapters.common.install import Installation
from adapters.common.settings import ChannelSettings, CommaList
from adapters.egress import networks

PRODUCTION_URL = "https://api.weixin.qq.com"
# Demo credentials of the bundled sandbox, used only while no WeChat base URL is configured.
SANDBOX_APPID = "wx_sandbox_appid"
SANDBOX_SECRET = "sandbox-app-secret"  # a public demo value, like a payment provider's test key
SANDBOX_CALLBACK_TOKEN = "sandbox-callback-token"
# The sandbox's demo template message (policy push); real template ids come from the MP console (模板消息).
SANDBOX_TEMPLATE_ID = "sbx_tpl_policy_push_demo_000000000000000000"


class WechatSettings(ChannelSettings):
    """GOVCAST_WECHAT_*: the official account. An empty base URL: the sandbox when sandboxes are on, else the real API."""

    channel = "wechat"
    model_config = SettingsConfigDict(env_prefix="GOVCAST_WECHAT_")

    base_url: str = Field(default="", description="WeChat API base URL")
    appid: str = Field(default="", description="official account AppID; empty: the sandbox's demo AppID")
    secret: SecretStr = Field(default=SecretStr(""), description="official account AppSecret; empty: the sandbox's")
    token: SecretStr = Field(default=SecretStr(""), description="callback Token (signature key); empty: the sandbox's")
    author: str = Field(default="", description="article author (≤ 16 chars); empty: the publisher")
    timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout of WeChat API calls")
    poll_seconds: float = Field(default=1.0, gt=0, description="first wait before checking a publish job")
    reconcile_grace_seconds: float = Field(default=600.0, ge=0,
                                           description="after a submit timeout, seconds to look for the article before resubmitting")
    mass_send: bool = Field(default=False, description="publish by mass send (群发): the day's due copies go to every "
                            "follower as one multi-article message (≤ 8 articles, once a day) instead of one freepublish each")
    mass_send_time: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                                description="daily time of the mass send, Beijing time (pipeline clock)")
    image_allowed_networks: CommaList = Field(
        default_factory=list, description="IP networks body images may be fetched from although they are loopback or "
        "private (an intranet CMS), e.g. 10.20.0.0/16; this installation's own public URL is always allowed")

    @field_validator("image_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        networks(value)  # refuses what is not an IP network, with the entry named
        return value


def wechat_env(install: Installation) -> WechatSettings:
    return install.channel_settings(WechatSettings)


class WechatConfig(AdapterConfig):
    base_url: str = Field(default=PRODUCTION_URL, description="API root; the sandbox is {public_url}/sandbox/wechat")
    appid: str = Field(min_length=1, description="official account AppID")
    secret: SecretStr = Field(description="AppSecret (stable_token)")
    timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout")
    poll_seconds: float = Field(default=1.0, gt=0, description="first wait before checking a publish job; doubles, ≤ 60 s")
    reconcile_grace_seconds: float = Field(default=600.0, ge=0,
                                           description="after a submit timeout, how long the article may take to appear")
    mass_send: bool = False  # adapters.wechat.mass_send: one multi-article message a day to all followers
    mass_send_time: str = "18:00"
    image_allowed_networks: tuple[str, ...] = ()  # adapters.egress: inward networks body images may come from

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return urls.http_url(value, PRODUCTION_URL)


def uses_sandbox(settings: Installation) -> bool:
    return urls.uses_sandbox(wechat_env(settings).base_url, settings)


def credentials(settings: Installation) -> tuple[str, SecretStr, SecretStr]:
    """(AppID, AppSecret, callback Token): as configured; the sandbox's demo values where empty and the sandbox is used."""
    sandbox = uses_sandbox(settings)
    appid = wechat_env(settings).appid or (SANDBOX_APPID if sandbox else "")
    secret = wechat_env(settings).secret.get_secret_value() or (SANDBOX_SECRET if sandbox else "")
    token = wechat_env(settings).token.get_secret_value() or (SANDBOX_CALLBACK_TOKEN if sandbox else "")
    return appid, SecretStr(secret), SecretStr(token)


def wechat_config(settings: Installation) -> WechatConfig:
    """From settings: an empty base URL means the bundled sandbox when sandboxes are on, else the real API."""
    sandbox = uses_sandbox(settings)
    appid, secret, _ = credentials(settings)
    if not appid or not secret.get_secret_value():
        raise ValueError("the wechat channel needs GOVCAST_WECHAT_APPID and GOVCAST_WECHAT_SECRET "
                         "(or GOVCAST_SANDBOXES=true with an empty GOVCAST_WECHAT_BASE_URL for the sandbox)")
    base = urls.platform_url(wechat_env(settings).base_url, settings, "wechat", PRODUCTION_URL)
    return WechatConfig(
        base_url=base, appid=appid, secret=secret, sandbox=sandbox,
        timeout_seconds=wechat_env(settings).timeout_seconds, poll_seconds=wechat_env(settings).poll_seconds,
        reconcile_grace_seconds=wechat_env(settings).reconcile_grace_seconds,
        image_allowed_networks=tuple(wechat_env(settings).image_allowed_networks),
        mass_send=wechat_env(settings).mass_send, mass_send_time=wechat_env(settings).mass_send_time,
    )
