"""Typed configuration of the Weibo channel: what operators set (GOVCAST_WEIBO_*) and what the adapter uses."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from adapters.base import AdapterConfig
from adapters.common import urls
from adapters.common.install import Installation
from adapters.common.settings import ChannelSettings

PRODUCTION_URL = "https://api.weibo.com"
SANDBOX_TOKEN = "sandbox-weibo-token"  # the bundled sandbox's public demo token


class WeiboSettings(ChannelSettings):
    """GOVCAST_WEIBO_*. An empty base URL: the sandbox when sandboxes are on, else api.weibo.com."""

    channel = "weibo"
    model_config = SettingsConfigDict(env_prefix="GOVCAST_WEIBO_")

    base_url: str = Field(default="", description="Weibo API base URL")
    access_token: SecretStr = Field(default=SecretStr(""), description="OAuth2 access token; empty: the sandbox's")
    safe_domain: str = Field(default="", description="the app's registered safe domain; empty: the host of the public URL")
    timeout_seconds: float = Field(default=10.0, gt=0, description="per-request timeout of Weibo API calls")


def weibo_env(install: Installation) -> WeiboSettings:
    return install.channel_settings(WeiboSettings)


class WeiboConfig(AdapterConfig):
    base_url: str = Field(default=PRODUCTION_URL, description="API root; the sandbox is {public_url}/sandbox/weibo")
    access_token: SecretStr = Field(description="OAuth2 access token of the account")
    safe_domain: str = Field(min_length=1, description="the app's registered safe domain (host of the portal links)")
    web_url: str = Field(default="https://weibo.com", description="where posts are read: <web_url>/<uid>/<id>")
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("base_url", "web_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return urls.http_url(value, PRODUCTION_URL)


def weibo_token(settings: Installation) -> SecretStr:
    """The configured token; the sandbox's demo token where empty and the sandbox is used."""
    sandbox = urls.uses_sandbox(weibo_env(settings).base_url, settings)
    return SecretStr(weibo_env(settings).access_token.get_secret_value() or (SANDBOX_TOKEN if sandbox else ""))


def weibo_config(settings: Installation) -> WeiboConfig:
    sandbox = urls.uses_sandbox(weibo_env(settings).base_url, settings)
    if not weibo_token(settings).get_secret_value():
        raise ValueError("the weibo channel needs GOVCAST_WEIBO_ACCESS_TOKEN "
                         "(or GOVCAST_SANDBOXES=true with an empty GOVCAST_WEIBO_BASE_URL for the sandbox)")
    base = urls.platform_url(weibo_env(settings).base_url, settings, "weibo", PRODUCTION_URL)
    return WeiboConfig(base_url=base, access_token=weibo_token(settings), sandbox=sandbox,
                       safe_domain=weibo_env(settings).safe_domain or (urlsplit(settings.base_url).hostname or "localhost"),
                       web_url=f"{base}/web" if sandbox else "https://weibo.com",
                       timeout_seconds=weibo_env(settings).timeout_seconds)
